/**
 * avsc types that accept rowcast's JSON-ready values (see connectors/postgres/values.ts) as they are, so
 * encoding a row needs no per-field conversion pass:
 *
 * - `long`   : a safe integer, a bigint, or a decimal string in int64 range (int8 beyond 2^53 arrives as text).
 * - `float`/`double`: a number, or "NaN" / "Infinity" / "-Infinity" (how values.ts spells non-finite floats).
 * - `bytes`  : a base64 string (how bytea arrives) or a Buffer.
 * - logicalType `timestamp-micros|millis`, `local-timestamp-micros|millis`: an ISO-8601 string (or a number
 *   already in the unit), exact over int64 (years past 9999 and BC dates included, see avro-time.ts); `infinity`
 *   and instants past int64 do not fit (a row error); `date`: "YYYY-MM-DD" (or days since the epoch).
 * - Every long, logical or not, is written from a bigint: avsc's stock long rounds past 2^53.
 * - logicalType `json` (rowcast's own annotation on a string): any JSON value, written as its JSON text; a json/jsonb
 *   column's value (core/json-text.ts) as PostgreSQL's text, unchanged.
 *   Readers that do not know it see a plain string, as the Avro spec requires.
 *
 * Decoding with these types gives values back in rowcast's shapes (ISO strings, base64, long as number or string).
 * Only types without a logicalType are replaced; `decimal` and other logical types keep avsc's behaviour.
 */
import avro from 'avsc'
import type { ForSchemaOptions, Schema, Type } from 'avsc'
import { JsonText as JsonTextValue } from '../../../core/json-text.ts'
import { formatIsoDays, formatIsoMicros, parseIsoDays, parseIsoMicros } from './avro-time.ts'

export { parseIsoMicros } from './avro-time.ts'

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

/** Logical types over long that rowcast implements: their first sight builds the logical type, the second its long. */
const LOGICAL_LONGS = new Set(['timestamp-micros', 'timestamp-millis', 'local-timestamp-micros', 'local-timestamp-millis'])
const pendingLogical = new WeakSet<object>()

function replacePrimitive(schema: Schema): Type | undefined {
  if (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'long' && 'logicalType' in schema) {
    // avsc builds a logical type's underlying type with forSchema(sameSchema) (here again): then it is our exact long.
    const logical = String((schema as { logicalType: unknown }).logicalType)
    if (!LOGICAL_LONGS.has(logical) || pendingLogical.delete(schema)) return flexibleLong
    pendingLogical.add(schema)
    return undefined
  }
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

/** Epoch micros (or millis) from an ISO-8601 string, as a bigint. `local-*` types take the wall-clock time as if in UTC. */
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
  private lastValue: bigint | undefined

  protected override _toValue(value: unknown): unknown {
    if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
    if (typeof value !== 'string') return undefined
    if (value === this.lastText) return this.lastValue
    const micros = parseIsoMicros(value, this.local)
    const result = micros === undefined ? undefined : this.micros ? micros : floorDiv1000(micros)
    this.lastText = value
    this.lastValue = result !== undefined && result >= INT64_MIN && result <= INT64_MAX ? result : undefined
    return this.lastValue
  }

  protected override _fromValue(value: number | string): unknown {
    const n = BigInt(value)
    return formatIsoMicros(this.micros ? n : n * 1000n, this.local)
  }
}

function floorDiv1000(micros: bigint): bigint {
  const q = micros / 1000n
  return micros < 0n && micros % 1000n !== 0n ? q - 1n : q
}

class IsoDate extends avro.types.LogicalType {
  protected override _toValue(value: unknown): unknown {
    if (typeof value === 'number') return Number.isInteger(value) ? value : undefined
    return typeof value === 'string' ? parseIsoDays(value) : undefined
  }
  protected override _fromValue(value: number): unknown {
    return formatIsoDays(value)
  }
}

class JsonText extends avro.types.LogicalType {
  private lastValue: unknown
  private lastText: string | undefined

  protected override _toValue(value: unknown): unknown {
    if (value === null || value === undefined) return undefined // null goes to the union's null branch
    if (value instanceof JsonTextValue) return value.text // PostgreSQL's text, exact
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
