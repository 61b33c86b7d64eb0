import { z } from 'zod'

/**
 * Secrecy is decided by the schema: a config field that holds a secret is wrapped in `secret(...)` where its
 * component schema declares it, whether the value is written inline or comes from `${VAR}`. While a config is
 * parsed (`collectingSecrets`), each such field's value is handed to the collector, before validation, so
 * even a field that fails validation is scrubbed from the problems printed about it. Parsing stays pure: the
 * collector is the caller's (config/load-config.ts records the values with the result, see core/secrets.ts).
 */

type Collector = (value: string) => void

/** The collector of the parse under way (parsing is synchronous, so one at a time per call stack). */
let collector: Collector | null = null

/** Runs `parse` with every `secret(...)` field it meets reported to `onSecret`. */
export function collectingSecrets<T>(onSecret: Collector, parse: () => T): T {
  const previous = collector
  collector = onSecret
  try {
    return parse()
  } finally {
    collector = previous
  }
}

/**
 * Marks `schema` as a secret-bearing field. `parts` picks what is secret in the value (default: all of it), e.g.
 * the password of a connection URL, so the rest (host, database) stays readable in messages.
 */
export function secret<S extends z.ZodTypeAny>(schema: S, parts: (value: string) => readonly string[] = (value) => [value]): z.ZodEffects<S, z.output<S>, unknown> {
  return z.preprocess((value) => {
    if (typeof value === 'string' && collector !== null) for (const part of parts(value)) if (part !== '') collector(part)
    return value
  }, schema) as z.ZodEffects<S, z.output<S>, unknown>
}

/**
 * The password of a URL (`scheme://user:password@host`), as written and percent-decoded (libraries print either):
 * always as `:password@`, wherever the URL's credentials appear, and on its own too when it is at least
 * MIN_BARE_PASSWORD characters (a short one, like a test stack's `rowcast`, would garble every line it occurs in).
 */
export function urlPassword(url: string): string[] {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^:/@]*:([^@/]*)@/i.exec(url)
  if (match === null || match[1] === '') return []
  const raw = match[1]
  let decoded = raw
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    // not valid percent-encoding: only the raw form can appear
  }
  const forms = decoded === raw ? [raw] : [raw, decoded]
  return forms.flatMap((form) => (form.length >= MIN_BARE_PASSWORD ? [`:${form}@`, form] : [`:${form}@`]))
}

const MIN_BARE_PASSWORD = 8
