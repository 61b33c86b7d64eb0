import { parse as parseArray } from 'postgres-array'
import type { ColumnInfo } from '../../core/changes.ts'
import { JsonText } from '../../core/json-text.ts'

/**
 * Turns PostgreSQL's text output of a value into the JSON value a consumer expects:
 * integers as numbers (int8 beyond 2^53 as a string), numeric as a string, booleans, json/jsonb as their exact text
 * (JsonText, spliced into messages unchanged),
 * timestamps as ISO-8601 with their full (microsecond) precision, bytea as base64, arrays as arrays.
 * Every connection pins the session settings this text depends on (session.ts): TimeZone=UTC so timestamptz
 * text ends in +00, DateStyle=ISO, IntervalStyle=postgres, bytea_output=hex, extra_float_digits=3.
 */
export type ValueParser = (text: string) => unknown

export function parserForColumn(column: Pick<ColumnInfo, 'typeName' | 'elementTypeName'>): ValueParser {
  if (column.elementTypeName !== undefined) {
    const element = scalarParser(column.elementTypeName)
    return (text) => parseArray(text, element)
  }
  return scalarParser(column.typeName)
}

function scalarParser(typeName: string): ValueParser {
  switch (typeName) {
    case 'bool':
      return (text) => text === 't'
    case 'int2':
    case 'int4':
    case 'oid':
      return Number
    case 'int8':
      return parseInt8
    case 'float4':
    case 'float8':
      return parseFloatValue
    case 'json':
    case 'jsonb':
      return toJsonText
    case 'bytea':
      return (text) => Buffer.from(text.slice(2), 'hex').toString('base64') // text form is \x<hex>
    case 'timestamp':
      return (text) => (isInfinity(text) ? text : text.replace(' ', 'T'))
    case 'timestamptz':
      return parseTimestamptz
    default:
      return identity // numeric, text, varchar, uuid, date, time, interval, enums…: their text is the value
  }
}

const identity: ValueParser = (text) => text
const toJsonText: ValueParser = (text) => new JsonText(text)

function parseInt8(text: string): number | string {
  const value = Number(text)
  return Number.isSafeInteger(value) ? value : text
}

function parseFloatValue(text: string): number | string {
  const value = Number(text)
  return Number.isFinite(value) ? value : text // NaN and ±Infinity have no JSON number
}

function isInfinity(text: string): boolean {
  return text === 'infinity' || text === '-infinity'
}

/** "2024-01-02 03:04:05.123456+00" -> "2024-01-02T03:04:05.123456Z"; other offsets become "+05:30". */
function parseTimestamptz(text: string): string {
  // The common case, UTC (the connection's TimeZone) without the regular expression: "… 03:04:05.123456+00".
  if (text.length > 19 && text.charCodeAt(10) === 32 && text.endsWith('+00')) {
    return `${text.slice(0, 10)}T${text.slice(11, -3)}Z`
  }
  if (isInfinity(text)) return text
  const iso = text.replace(' ', 'T')
  const zone = /([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$/.exec(iso)
  if (zone === null) return iso
  const base = iso.slice(0, zone.index)
  if (zone[2] === '00' && (zone[3] ?? '00') === '00' && zone[4] === undefined) return `${base}Z`
  return `${base}${zone[1]}${zone[2]}:${zone[3] ?? '00'}${zone[4] === undefined ? '' : `:${zone[4]}`}` // seconds: only historical local mean times
}
