import { JsonText } from '../../core/json-text.ts'
import { redactSecrets } from '../../core/secrets.ts'
import type { DeliveryRecord } from '../../core/telemetry.ts'

export const MASK = '[redacted]'

/** Values shorter than this are masked in the row but not searched for in the message text (it would mask noise). */
const MIN_VALUE_LENGTH = 3

/**
 * What the debugger may show of a record: the columns listed in `debugger.redact` are masked in the row, in the
 * message (as JSON keys at any depth, and wherever their values appear in the text), in the key, headers and error;
 * then every registered secret is scrubbed from all of it.
 */
export function redactRecord(record: DeliveryRecord, columns: ReadonlySet<string>): DeliveryRecord {
  const values = columns.size > 0 && record.row ? sensitiveValues(record.row, columns) : []
  const scrub = (text: string) => redactSecrets(replaceValues(text, values))
  return {
    ...record,
    key: record.key === null ? null : scrub(record.key),
    row: record.row === null ? null : (scrubDeep(maskKeys(record.row, columns), redactSecrets) as Record<string, unknown>),
    message: record.message === null ? null : scrub(maskJsonText(record.message, columns)),
    ...(record.headers ? { headers: Object.fromEntries(Object.entries(record.headers).map(([k, v]) => [k, scrub(v)])) } : {}),
    ...(record.error !== undefined ? { error: scrub(record.error) } : {}),
  }
}

function sensitiveValues(row: Record<string, unknown>, columns: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (const column of columns) {
    const value = row[column]
    if (value === null || value === undefined) continue
    const text = typeof value === 'string' ? value : value instanceof JsonText ? value.text : JSON.stringify(value) // as the message holds it
    if (text.length < MIN_VALUE_LENGTH) continue
    out.push(text)
    const escaped = JSON.stringify(text).slice(1, -1) // how it looks inside a JSON string
    if (escaped !== text) out.push(escaped)
  }
  return out.sort((a, b) => b.length - a.length) // longest first, so a value containing another is masked whole
}

function replaceValues(text: string, values: readonly string[]): string {
  let out = text
  for (const value of values) if (out.includes(value)) out = out.split(value).join(MASK)
  return out
}

/** The same value with every property named in `columns` (at any depth) replaced by the mask. */
function maskKeys(input: unknown, columns: ReadonlySet<string>): unknown {
  const value = input instanceof JsonText ? input.value : input // shown parsed, like the rest of the row
  if (columns.size === 0 || value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((item) => maskKeys(item, columns))
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, columns.has(k) ? MASK : maskKeys(v, columns)]))
}

function maskJsonText(text: string, columns: ReadonlySet<string>): string {
  if (columns.size === 0) return text
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return text // not JSON: value replacement alone applies
  }
  const masked = maskKeys(parsed, columns)
  const out = JSON.stringify(masked)
  return out === JSON.stringify(parsed) ? text : out // keep the original formatting when nothing was masked
}

function scrubDeep(input: unknown, scrub: (text: string) => string): unknown {
  const value = input instanceof JsonText ? input.value : input
  if (typeof value === 'string') return scrub(value)
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map((item) => scrubDeep(item, scrub))
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, scrub)]))
}
