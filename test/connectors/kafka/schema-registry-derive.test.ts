import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import avro from 'avsc'
import type { ColumnInfo } from '../../../core/changes.ts'
import type { RowcastError } from '../../../core/errors.ts'
import { rowcastAvroOptions } from '../../../connectors/kafka/schema-registry/avro-types.ts'
import { avroRecordName, deriveSchema } from '../../../connectors/kafka/schema-registry/derive-schema.ts'

const column = (typeName: string, nullable = false, elementTypeName?: string): ColumnInfo => ({
  name: 'c',
  typeOid: 0,
  typeName,
  nullable,
  ...(elementTypeName === undefined ? {} : { elementTypeName }),
})

function avroFieldType(typeName: string, nullable = false, elementTypeName?: string): unknown {
  const schema = deriveSchema('avro', [{ field: 'f', column: column(typeName, nullable, elementTypeName) }], 'r') as { fields: { type: unknown }[] }
  return schema.fields[0].type
}

function jsonFieldType(typeName: string, nullable = false, elementTypeName?: string): unknown {
  const schema = deriveSchema('json-schema', [{ field: 'f', column: column(typeName, nullable, elementTypeName) }], 'r') as { properties: Record<string, unknown> }
  return schema.properties.f
}

const MAPPINGS: [typeName: string, avroType: unknown, jsonType: unknown][] = [
  ['bool', 'boolean', { type: 'boolean' }],
  ['int2', 'int', { type: 'integer' }],
  ['int4', 'int', { type: 'integer' }],
  ['int8', 'long', { anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^-?[0-9]+$' }] }],
  ['oid', 'long', { anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^-?[0-9]+$' }] }],
  ['float4', 'float', { anyOf: [{ type: 'number' }, { enum: ['NaN', 'Infinity', '-Infinity'] }] }],
  ['float8', 'double', { anyOf: [{ type: 'number' }, { enum: ['NaN', 'Infinity', '-Infinity'] }] }],
  ['numeric', 'string', { type: 'string' }],
  ['text', 'string', { type: 'string' }],
  ['varchar', 'string', { type: 'string' }],
  ['interval', 'string', { type: 'string' }],
  ['my_enum', 'string', { type: 'string' }],
  ['uuid', { type: 'string', logicalType: 'uuid' }, { type: 'string' }],
  ['date', { type: 'int', logicalType: 'date' }, { type: 'string' }],
  ['timestamptz', { type: 'long', logicalType: 'timestamp-micros' }, { type: 'string' }],
  ['timestamp', { type: 'long', logicalType: 'local-timestamp-micros' }, { type: 'string' }],
  ['bytea', 'bytes', { type: 'string', contentEncoding: 'base64' }],
  ['json', { type: 'string', logicalType: 'json' }, {}],
  ['jsonb', { type: 'string', logicalType: 'json' }, {}],
]

describe('deriveSchema: type mappings', () => {
  for (const [typeName, avroType, jsonType] of MAPPINGS) {
    test(`${typeName} → Avro ${JSON.stringify(avroType)}, JSON Schema ${JSON.stringify(jsonType)}`, () => {
      assert.deepEqual(avroFieldType(typeName), avroType)
      assert.deepEqual(jsonFieldType(typeName), jsonType)
    })
  }

  test('nullable columns: Avro ["null", T] with default null; JSON Schema allows null', () => {
    const schema = deriveSchema('avro', [{ field: 'email', column: column('text', true) }], 'r') as { fields: unknown[] }
    assert.deepEqual(schema.fields[0], { name: 'email', type: ['null', 'string'], default: null })
    assert.deepEqual(jsonFieldType('text', true), { type: ['string', 'null'] })
    assert.deepEqual(jsonFieldType('int8', true), { anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^-?[0-9]+$' }, { type: 'null' }] })
    assert.deepEqual(jsonFieldType('jsonb', true), {})
  })

  test('arrays: elements may be null; by elementTypeName or by the leading underscore', () => {
    assert.deepEqual(avroFieldType('_int4', false, 'int4'), { type: 'array', items: ['null', 'int'] })
    assert.deepEqual(avroFieldType('_timestamptz'), { type: 'array', items: ['null', { type: 'long', logicalType: 'timestamp-micros' }] })
    assert.deepEqual(avroFieldType('_text', true, 'text'), ['null', { type: 'array', items: ['null', 'string'] }])
    assert.deepEqual(jsonFieldType('_int4', false, 'int4'), { type: 'array', items: { type: ['integer', 'null'] } })
    assert.deepEqual(jsonFieldType('_text', true, 'text'), { type: ['array', 'null'], items: { type: ['string', 'null'] } })
  })

  test('Avro record: name sanitised, namespace rowcast, fields in mapping order', () => {
    const schema = deriveSchema('avro', [{ field: 'b', column: column('int4') }, { field: 'a', column: column('text') }], 'users-topic.v1')
    assert.deepEqual(schema, {
      type: 'record',
      name: 'users_topic_v1',
      namespace: 'rowcast',
      fields: [{ name: 'b', type: 'int' }, { name: 'a', type: 'string' }],
    })
    assert.equal(avroRecordName('1users'), '_1users')
  })

  test('JSON Schema object: draft-07, every field required, no other properties', () => {
    const schema = deriveSchema('json-schema', [{ field: 'id', column: column('int4') }, { field: 'email', column: column('text', true) }], 'users')
    assert.deepEqual(schema, {
      $schema: 'http://json-schema.org/draft-07/schema#',
      title: 'users',
      type: 'object',
      properties: { id: { type: 'integer' }, email: { type: ['string', 'null'] } },
      required: ['id', 'email'],
      additionalProperties: false,
    })
  })

  test('Avro field names that are not Avro names are refused, naming them', () => {
    assert.throws(
      () => deriveSchema('avro', [{ field: 'customer-email', column: column('text') }, { field: 'ok', column: column('text') }, { field: '2x', column: column('text') }], 'r'),
      (error: RowcastError) => error.code === 'SCHEMA_INVALID' && /"customer-email", "2x"/.test(error.message) && !/"ok"/.test(error.message),
    )
    assert.doesNotThrow(() => deriveSchema('json-schema', [{ field: 'customer-email', column: column('text') }], 'r'))
  })

  test('every derived Avro schema compiles with avsc and rowcast\'s options', () => {
    const fields = MAPPINGS.map(([typeName], i) => ({ field: `f${i}`, column: column(typeName, i % 2 === 0) }))
    fields.push({ field: 'arr', column: column('_jsonb', true, 'jsonb') })
    const type = avro.Type.forSchema(deriveSchema('avro', fields, 'all') as avro.Schema, rowcastAvroOptions())
    assert.equal(type.typeName, 'record')
  })
})
