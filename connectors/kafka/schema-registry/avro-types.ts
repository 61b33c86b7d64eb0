/**
 * avsc types that accept rowcast's JSON-ready values (see connectors/postgres/values.ts) as they are, so
 * encoding a row needs no per-field conversion pass:
 *
 * - `long`   : a safe integer, a bigint, or a decimal string in int64 range (int8 beyond 2^53 arrives as text).
 * - `float`/`double`: a number, or "NaN" / "Infinity" / "-Infinity" (how values.ts spells non-finite floats).
 * - `bytes`  : a base64 string (how bytea arrives) or a Buffer.
 * - logicalType `timestamp-micros|millis`, `local-timestamp-micros|millis`: an ISO-8601 string (or a number
 *   already in the unit); `date`: "YYYY-MM-DD" (or days since the epoch).
 * - logicalType `json` (rowcast's own annotation on a string): any JSON value, written as its JSON text.
 *   Readers that do not know it see a plain string, as the Avro spec requires.
 *
 * Decoding with these types gives values back in rowcast's shapes (ISO strings, base64, long as number or string).
 * Only types without a logicalType are replaced; `decimal` and other logical types keep avsc's behaviour.
 */
import avro from 'avsc'
import type { ForSchemaOptions, Schema, Type } from 'avsc'

/** Options for `avro.Type.forSchema` (or the registry library's AVRO options). */
export function rowcastAvroOptions(): Partial<ForSchemaOptions> {
  return {
    wrapUnions: 'never', // rows carry plain values, never {"type": value} wrappers; ambiguous unions fail at start-up
    typeHook: replacePrimitive,
    logicalTypes: {
      'timestamp-micros': IsoTimestamp,
      'timestamp-millis': IsoTimestamp,
      'local-timestamp-micros': IsoTimestamp,
      'local-timestamp-millis': IsoTimestamp,
      date: IsoDate,
      json: JsonText,
    },
  }
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER)
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER)

function replacePrimitive(schema: Schema): Type | undefined {
  const name = typeof schema === 'string' ? schema : isPlainPrimitive(schema) ? (schema as { type: string }).type : undefined
  switch (name) {
    case 'long':
      return flexibleLong
    case 'float':
    case 'double':
      return new NonFiniteNumber({ type: name }, {})
    case 'bytes':
      return new Base64Bytes({ type: 'bytes' }, {})
    default:
      return undefined
  }
}

function isPlainPrimitive(schema: Schema): boolean {
  return typeof schema === 'object' && schema !== null && typeof (schema as { type?: unknown }).type === 'string' && !('logicalType' in schema)
}

/** int64 from a number, a bigint or a decimal string; undefined when the value is none of those or out of range. */
export function toInt64(value: unknown): bigint | undefined {
  let n: bigint
  if (typeof value === 'bigint') n = value
  else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value)
  else if (typeof value === 'string' && /^-?\d{1,19}$/.test(value)) n = BigInt(value)
  else return undefined
  return n >= INT64_MIN && n <= INT64_MAX ? n : undefined
}

const flexibleLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => {
    const n = buf.readBigInt64LE()
    return n >= SAFE_MIN && n <= SAFE_MAX ? Number(n) : n.toString()
  },
  toBuffer: (value: unknown) => {
    const buf = Buffer.alloc(8)
    buf.writeBigInt64LE(toInt64(value) as bigint)
    return buf
  },
  fromJSON: (value: unknown) => value,
  toJSON: (value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
  isValid: (value: unknown) => toInt64(value) !== undefined,
  compare: (a: unknown, b: unknown) => {
    const x = toInt64(a) as bigint
    const y = toInt64(b) as bigint
    return x === y ? 0 : x < y ? -1 : 1
  },
})

const NON_FINITE: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY }

class NonFiniteNumber extends avro.types.LogicalType {
  protected override _toValue(value: unknown): unknown {
    if (typeof value === 'number') return value
    return typeof value === 'string' ? NON_FINITE[value] : undefined
  }
  protected override _fromValue(value: number): unknown {
    return Number.isFinite(value) ? value : String(value)
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

class Base64Bytes extends avro.types.LogicalType {
  protected override _toValue(value: unknown): unknown {
    if (Buffer.isBuffer(value)) return value
    return typeof value === 'string' && value.length % 4 === 0 && BASE64.test(value) ? Buffer.from(value, 'base64') : undefined
  }
  protected override _fromValue(value: Buffer): unknown {
    return value.toString('base64')
  }
}

const ISO_DATE_TIME = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d(?::?\d\d)?)?$/

/** Epoch micros (or millis) from an ISO-8601 string. `local-*` types take the wall-clock time as if in UTC. */
class IsoTimestamp extends avro.types.LogicalType {
  private readonly micros: boolean
  private readonly local: boolean

  constructor(schema: Schema, opts?: unknown) {
    super(schema, opts)
    const logicalType = (schema as { logicalType: string }).logicalType
    this.micros = logicalType.endsWith('micros')
    this.local = logicalType.startsWith('local-')
  }

  // A nullable field's union checks the value (_toValue) before writing it (_toValue again): remember the last one.
  private lastText: string | undefined
  private lastValue: number | undefined

  protected override _toValue(value: unknown): unknown {
    if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
    if (typeof value !== 'string') return undefined
    if (value === this.lastText) return this.lastValue
    const micros = parseIsoMicros(value, this.local)
    const result = micros === undefined ? undefined : this.micros ? micros : Math.floor(micros / 1000)
    this.lastText = value
    this.lastValue = result !== undefined && Number.isSafeInteger(result) ? result : undefined
    return this.lastValue
  }

  protected override _fromValue(value: number): unknown {
    const millis = this.micros ? Math.floor(value / 1000) : value
    const iso = new Date(millis).toISOString() // 2024-01-02T03:04:05.123Z
    const digits = this.micros ? `${iso.slice(20, 23)}${String(((value % 1000) + 1000) % 1000).padStart(3, '0')}` : iso.slice(20, 23)
    const fraction = digits.replace(/0+$/, '') // as PostgreSQL prints it: no trailing zeros, no "." for whole seconds
    return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}${this.local ? '' : 'Z'}`
  }
}

/** Epoch microseconds of an ISO-8601 date-time; a missing zone means UTC (local types require none). */
export function parseIsoMicros(text: string, local: boolean): number | undefined {
  const m = ISO_DATE_TIME.exec(text)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, fraction = '', zone] = m
  if (local && zone !== undefined) return undefined
  const millis = utcMillis(Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s))
  let offsetMinutes = 0
  if (zone !== undefined && zone !== 'Z') {
    const digits = zone.replace(':', '')
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5) || '0'))
  }
  const micros = Number(`${fraction}000000`.slice(0, 6))
  return (millis - offsetMinutes * 60_000) * 1000 + micros
}

/** Like Date.UTC, without its mapping of years 0–99 to 1900–1999. */
function utcMillis(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, 0)
  return date.getTime()
}

const ISO_DATE = /^(\d{4})-(\d\d)-(\d\d)$/

class IsoDate extends avro.types.LogicalType {
  protected override _toValue(value: unknown): unknown {
    if (typeof value === 'number') return Number.isInteger(value) ? value : undefined
    const m = typeof value === 'string' ? ISO_DATE.exec(value) : null
    if (m === null) return undefined
    return utcMillis(Number(m[1]), Number(m[2]), Number(m[3]), 0, 0, 0) / 86_400_000
  }
  protected override _fromValue(value: number): unknown {
    return new Date(value * 86_400_000).toISOString().slice(0, 10)
  }
}

class JsonText extends avro.types.LogicalType {
  private lastValue: unknown
  private lastText: string | undefined

  protected override _toValue(value: unknown): unknown {
    if (value === null || value === undefined) return undefined // null goes to the union's null branch
    if (value !== this.lastValue) {
      this.lastText = JSON.stringify(value) // same object checked then written: stringify once
      this.lastValue = value
    }
    return this.lastText
  }
  /** Forget the remembered object once written, so a later mutation of the same object is never missed. */
  _write(tap: unknown, value: unknown): void {
    try {
      ;(avro.types.LogicalType.prototype as unknown as { _write(tap: unknown, value: unknown): void })._write.call(this, tap, value)
    } finally {
      this.lastValue = undefined
      this.lastText = undefined
    }
  }
  protected override _fromValue(value: string): unknown {
    return JSON.parse(value)
  }
}
