/**
 * Formatting of row values as JSON text, shared by every way of composing a message.
 * Values arrive JSON-ready (see connectors/postgres/values.ts); json/jsonb arrive as JsonText, whose text is spliced
 * in unchanged (never parsed and re-serialised: that would round big numbers and drop `1.10`'s zero). These never throw and always return valid JSON text
 * (`jsonValue`) or valid JSON string-literal content (`jsonInString`).
 */
import { RowcastError } from '../../core/errors.ts'
import { JsonText, jsonPlainText } from '../../core/json-text.ts'

/** Characters JSON.stringify would escape (surrogates: lone ones are escaped; paired ones just take the slow path). */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/

/** A value at a JSON value position: numbers and booleans bare, NULL as `null`, strings quoted, objects/arrays as JSON. */
export function jsonValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null' // as JSON.stringify, without its generic path
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object':
      if (value === null) return 'null'
      if (value instanceof JsonText) return value.text
      return Array.isArray(value) ? arrayJson(value) : JSON.stringify(value)
    case 'bigint':
      return String(value)
    default: // undefined (a column absent from the row), or never-JSON-ready functions/symbols
      return value === undefined ? 'null' : (JSON.stringify(value) ?? 'null')
  }
}

/**
 * Like `jsonValue`, for columns of a numeric type whose values may arrive as strings to keep their precision
 * (int8 beyond 2^53, numeric): a string that is a JSON number is emitted bare, so `"age": {{row.age}}` stays a number.
 */
export function jsonNumericValue(value: unknown): string {
  return typeof value === 'string' && JSON_NUMBER.test(value) ? value : jsonValue(value)
}

/** A value inside a JSON string literal: its text, escaped, without quotes. NULL → empty; objects/arrays → their JSON text. */
export function jsonInString(value: unknown): string {
  if (value === null || value === undefined) return ''
  const text = typeof value === 'string' ? value : typeof value === 'object' ? objectText(value) : String(value)
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text).slice(1, -1) : text
}

/** Arrays element by element, so a json[] keeps each element's text (JSON.stringify would go through toJSON). */
function arrayJson(values: readonly unknown[]): string {
  let out = '['
  for (let i = 0; i < values.length; i++) out += (i === 0 ? '' : ',') + jsonValue(values[i])
  return out + ']'
}

function objectText(value: object): string {
  if (value instanceof JsonText) return jsonPlainText(value)
  return Array.isArray(value) ? arrayJson(value) : JSON.stringify(value)
}

/** Throws ROW_INVALID_JSON unless `text` parses as JSON. `what` says where the text came from. */
export function assertJson(text: string, what = 'message'): void {
  try {
    JSON.parse(text)
  } catch (error) {
    throw new RowcastError('ROW_INVALID_JSON', `${what} is not valid JSON: ${(error as Error).message}`, { cause: error })
  }
}
