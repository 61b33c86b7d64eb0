import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import avro from 'avsc'
import type { RowcastError } from '../../../core/errors.ts'
import { JsonText } from '../../../core/json-text.ts'
import { createLogger } from '../../../core/logger.ts'
import { parseIsoMicros, rowcastAvroOptions, toInt64 } from '../../../connectors/kafka/schema-registry/avro-types.ts'
import { parseSchemaRegistryConfig } from '../../../connectors/kafka/schema-registry/config.ts'
import { createRegistryEncoder, wireHeader } from '../../../connectors/kafka/schema-registry/registry-encoder.ts'

const logger = createLogger({ level: 'silent' })
const config = parseSchemaRegistryConfig({ url: 'http://127.0.0.1:9/apis/ccompat/v7' }, '.')

function roundTrip(schema: unknown, value: unknown): { bytes: Buffer; back: unknown } {
  const type = avro.Type.forSchema(schema as avro.Schema, rowcastAvroOptions())
  const bytes = type.toBuffer(value)
  return { bytes, back: type.fromBuffer(bytes) }
}

describe('wire format header', () => {
  test('magic byte 0, then the schema id as a big-endian int32', () => {
    assert.deepEqual([...wireHeader(1)], [0, 0, 0, 0, 1])
    assert.deepEqual([...wireHeader(0x01020304)], [0, 1, 2, 3, 4])
    assert.deepEqual([...wireHeader(2147483647)], [0, 0x7f, 0xff, 0xff, 0xff])
  })
})

describe('Avro value conversions (avro-types.ts)', () => {
  test('long: safe numbers, decimal strings and bigints across the whole int64 range', () => {
    assert.equal(roundTrip('long', 42).back, 42)
    assert.equal(roundTrip('long', -42).back, -42)
    assert.equal(roundTrip('long', '9223372036854775807').back, '9223372036854775807')
    assert.equal(roundTrip('long', '-9223372036854775808').back, '-9223372036854775808')
    assert.equal(roundTrip('long', 2n ** 60n).back, String(2n ** 60n))
    // Same bytes as avsc's own long for a safe value: readers without rowcast's types read it normally.
    assert.deepEqual(roundTrip('long', '123456789').bytes, avro.Type.forSchema('long').toBuffer(123456789))
    assert.equal(toInt64('9223372036854775808'), undefined)
    assert.equal(toInt64('1.5'), undefined)
    assert.equal(toInt64(1.5), undefined)
    assert.equal(toInt64(2 ** 53), undefined) // unsafe numbers arrive as strings, never as lossy numbers
  })

  test('double/float: numbers and the spelled-out non-finite values', () => {
    assert.equal(roundTrip('double', 1.25).back, 1.25)
    assert.equal(roundTrip('double', 'NaN').back, 'NaN')
    assert.equal(roundTrip('double', '-Infinity').back, '-Infinity')
    assert.equal(roundTrip('float', 'Infinity').back, 'Infinity')
    assert.throws(() => roundTrip('double', '1.5'))
  })

  test('bytes: base64 text in, base64 text out; not-base64 refused', () => {
    const { bytes, back } = roundTrip('bytes', 'AAEC+g==')
    assert.deepEqual(bytes, Buffer.from([8, 0, 1, 2, 250])) // length 4, zig-zag encoded as 8, then the bytes
    assert.equal(back, 'AAEC+g==')
    assert.throws(() => roundTrip('bytes', 'not base64!'))
  })

  test('timestamps: ISO strings with any offset → epoch micros/millis; PostgreSQL-style text back', () => {
    const micros = { type: 'long', logicalType: 'timestamp-micros' }
    const base = BigInt(Date.UTC(2024, 0, 2, 3, 4, 5)) * 1000n
    assert.equal(parseIsoMicros('2024-01-02T03:04:05.123456Z', false), base + 123456n)
    assert.equal(parseIsoMicros('2024-01-02T08:34:05.123456+05:30', false), base + 123456n)
    assert.equal(parseIsoMicros('2024-01-02T00:04:05-03', false), base)
    assert.equal(parseIsoMicros('2024-01-02T03:04:05Z', true), undefined) // local-* takes no zone
    assert.equal(parseIsoMicros('infinity', false), undefined)
    assert.equal(roundTrip(micros, '2024-01-02T03:04:05.123456Z').back, '2024-01-02T03:04:05.123456Z')
    assert.equal(roundTrip(micros, '2024-01-02T03:04:05Z').back, '2024-01-02T03:04:05Z')
    assert.equal(roundTrip(micros, '1969-12-31T23:59:59.999999Z').back, '1969-12-31T23:59:59.999999Z')
    assert.equal(avro.Type.forSchema(micros as avro.Schema).fromBuffer(roundTrip(micros, '2024-01-02T03:04:05.000001Z').bytes), Number(base) + 1)
    const millis = { type: 'long', logicalType: 'timestamp-millis' }
    assert.equal(roundTrip(millis, '2024-01-02T03:04:05.123456Z').back, '2024-01-02T03:04:05.123Z')
    const local = { type: 'long', logicalType: 'local-timestamp-micros' }
    assert.equal(roundTrip(local, '2024-01-02T03:04:05.5').back, '2024-01-02T03:04:05.5')
    assert.throws(() => roundTrip(micros, 'infinity'))
  })

  test('timestamps are exact over int64: years past 9999, BC (PostgreSQL\'s " BC" suffix), between 1684 and 1827', () => {
    const micros = { type: 'long', logicalType: 'timestamp-micros' }
    const local = { type: 'long', logicalType: 'local-timestamp-micros' }
    // The long as written, read as a plain long (avsc's stock long misreads some of these: read with ours).
    const raw = (value: string) => avro.Type.forSchema('long', rowcastAvroOptions()).fromBuffer(roundTrip(micros, value).bytes)
    // Each µs count checked against PostgreSQL's extract(epoch …) * 1e6.
    assert.equal(String(parseIsoMicros('9999-12-31T23:59:59.999999Z', false)), '253402300799999999')
    assert.equal(String(parseIsoMicros('0001-01-01T00:00:00Z', false)), '-62135596800000000')
    assert.equal(String(parseIsoMicros('1700-01-01T00:00:00.5Z', false)), '-8520335999500000')
    assert.equal(String(parseIsoMicros('4714-11-24T00:00:00Z BC', false)), '-210866803200000000')
    assert.equal(String(parseIsoMicros('0001-12-31T23:59:59.999999Z BC', false)), '-62135596800000001')
    assert.equal(String(parseIsoMicros('294276-12-31T23:59:59.999999', true)), '9224318015999999999') // past int64: refused below
    for (const text of ['9999-12-31T23:59:59.999999Z', '0001-01-01T00:00:00Z', '1700-01-01T00:00:00.5Z', '4714-11-24T00:00:00Z BC', '0044-03-15T12:00:00.000001Z BC']) {
      assert.equal(roundTrip(micros, text).back, text)
    }
    assert.equal(roundTrip(local, '10000-01-01T00:00:00').back, '10000-01-01T00:00:00')
    assert.equal(raw('1700-01-01T00:00:00.5Z'), -8520335999500000) // avsc's stock long wrote this with the sign flipped
    assert.equal(raw('9999-12-31T23:59:59.999999Z'), '253402300799999999') // the raw long, bytes exact (checked by the Java decoder in test/integration/avro-exact.test.ts)
    assert.throws(() => roundTrip(local, '294276-12-31T23:59:59.999999'))
    assert.throws(() => roundTrip(micros, '-infinity'))
  })

  test('date: YYYY-MM-DD ↔ days since the epoch, including years before 100', () => {
    const date = { type: 'int', logicalType: 'date' }
    assert.equal(avro.Type.forSchema(date as avro.Schema).fromBuffer(roundTrip(date, '1970-01-11').bytes), 10)
    assert.equal(roundTrip(date, '0044-03-15').back, '0044-03-15')
    assert.equal(roundTrip(date, '2024-02-29').back, '2024-02-29')
    assert.equal(roundTrip(date, '4713-11-24 BC').back, '4713-11-24 BC')
    assert.equal(roundTrip(date, '5874897-12-31').back, '5874897-12-31')
  })

  test('json logical type: any JSON value as its text; null goes to the union\'s null branch', () => {
    const json = { type: 'string', logicalType: 'json' }
    assert.deepEqual(roundTrip(json, { a: [1, 'x', null] }).back, { a: [1, 'x', null] })
    assert.equal(avro.Type.forSchema('string').fromBuffer(roundTrip(json, [1, 2]).bytes), '[1,2]')
    assert.equal(roundTrip(['null', json], null).back, null)
    assert.equal(roundTrip(['null', json], 'text').back, 'text')
    // A json/jsonb column's value is PostgreSQL's text, written unchanged: no rounding, key order kept.
    const exact = '{"id": 12345678901234567890, "x": 1.10, "a": 1}'
    assert.equal(avro.Type.forSchema('string').fromBuffer(roundTrip(['null', json], new JsonText(exact)).bytes.subarray(1)), exact)
  })

  test('unions of null and a converted type pick the right branch', () => {
    assert.equal(roundTrip(['null', 'long'], '9223372036854775807').back, '9223372036854775807')
    assert.equal(roundTrip(['null', 'long'], null).back, null)
    assert.equal(roundTrip(['null', 'bytes'], 'AAEC').back, 'AAEC')
  })
})

describe('createRegistryEncoder (without a registry)', () => {
  const schema = { type: 'record', name: 'r', fields: [{ name: 'id', type: 'long' }] }

  test('encode before init is a programming error', () => {
    const encoder = createRegistryEncoder({ config, format: 'avro', schema, topic: 'users', logger })
    assert.equal(encoder.subject, 'users-value')
    assert.equal(encoder.schemaId, undefined)
    assert.throws(() => encoder.encode({ id: 1 }), (error: RowcastError) => error.code === 'REGISTRY_NOT_READY')
  })

  test('a schema that is not JSON, not valid Avro, or not a record is refused before any request', () => {
    const refused = (schemaText: string, format: 'avro' | 'json-schema' = 'avro') =>
      assert.throws(() => createRegistryEncoder({ config, format, schema: schemaText, topic: 't', logger }), (error: RowcastError) => error.code === 'SCHEMA_INVALID')
    refused('{"type": "record"')
    refused('{"type": "record", "name": "r", "fields": [{"name": "a", "type": "nope"}]}')
    refused('"string"')
    refused('not json', 'json-schema')
  })
})

test('json logical type: the same object, changed between two encodes, is written as it is now', () => {
  const type = avro.Type.forSchema({ type: 'record', name: 'r', fields: [{ name: 'j', type: ['null', { type: 'string', logicalType: 'json' }] }] } as avro.Schema, rowcastAvroOptions())
  const value = { j: { n: 1 } }
  assert.deepEqual({ ...type.fromBuffer(type.toBuffer(value)) }, { j: { n: 1 } })
  value.j.n = 2
  assert.deepEqual({ ...type.fromBuffer(type.toBuffer(value)) }, { j: { n: 2 } })
})
