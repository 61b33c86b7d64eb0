/**
 * Derives an Avro record schema or a JSON Schema (draft-07) for a message from the PostgreSQL types of the
 * columns its fields come from. The values it describes are rowcast's JSON-ready values
 * (connectors/postgres/values.ts); the Avro side relies on the value conversions in avro-types.ts.
 *
 *   PostgreSQL             Avro                                          JSON Schema
 *   bool                   boolean                                       boolean
 *   int2, int4             int                                           integer
 *   int8, oid              long (number, or decimal string beyond 2^53)  integer | string of digits
 *   float4 / float8        float / double ("NaN", "±Infinity" accepted)  number | "NaN" | "Infinity" | "-Infinity"
 *   numeric, money         string (exact decimal text)                   string
 *   uuid                   string, logicalType uuid                      string
 *   date                   int, logicalType date                         string ("2024-01-02")
 *   timestamptz            long, logicalType timestamp-micros            string (ISO-8601, "…Z")
 *   timestamp              long, logicalType local-timestamp-micros      string (ISO-8601 without zone)
 *   bytea                  bytes                                         string, contentEncoding base64
 *   json, jsonb            string with logicalType json (JSON text)      {} (any JSON value, nested)
 *   _<type> (arrays)       array of (null | element)                     array of (element | null)
 *   anything else          string (PostgreSQL's text form)               string
 *
 * Nullable columns: Avro `["null", T]` with default null; JSON Schema adds "null" to the type.
 * Every field is required in JSON Schema (rowcast always writes every mapped field, null included).
 * No `format` keywords: ajv (which @kafkajs/confluent-schema-registry uses to validate on decode) rejects unknown
 * formats in its default strict mode, so a consumer with default options could not read the messages.
 */
import { RowcastError } from '../../../core/errors.ts'
import type { ColumnInfo } from '../../../core/changes.ts'

export type MessageSchemaFormat = 'avro' | 'json-schema'

export interface SchemaField {
  /** The message's field name (a mapping key). */
  field: string
  column: ColumnInfo
}

export type DerivedSchema = Record<string, unknown>

export function deriveSchema(format: MessageSchemaFormat, fields: readonly SchemaField[], name: string): DerivedSchema {
  return format === 'avro' ? deriveAvro(fields, name) : deriveJsonSchema(fields, name)
}

const AVRO_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

function deriveAvro(fields: readonly SchemaField[], name: string): DerivedSchema {
  const bad = fields.filter(({ field }) => !AVRO_NAME.test(field)).map(({ field }) => `"${field}"`)
  if (bad.length > 0) {
    throw new RowcastError('SCHEMA_INVALID', `Avro field names must match [A-Za-z_][A-Za-z0-9_]*; rename the mapping keys ${bad.join(', ')} or give a schema file`)
  }
  return {
    type: 'record',
    name: avroRecordName(name),
    namespace: 'rowcast',
    fields: fields.map(({ field, column }) => {
      const type = avroColumnType(column)
      return column.nullable ? { name: field, type: ['null', type], default: null } : { name: field, type }
    }),
  }
}

/** "users-topic.v1" → "users_topic_v1"; a leading digit gets a "_". */
export function avroRecordName(name: string): string {
  const cleaned = name.replace(/[^A-Za-z0-9_]/g, '_')
  return /^[A-Za-z_]/.test(cleaned) ? cleaned : `_${cleaned}`
}

function avroColumnType(column: ColumnInfo): unknown {
  const element = arrayElement(column)
  if (element !== undefined) return { type: 'array', items: ['null', avroScalarType(element)] }
  return avroScalarType(column.typeName)
}

function avroScalarType(typeName: string): unknown {
  switch (typeName) {
    case 'bool':
      return 'boolean'
    case 'int2':
    case 'int4':
      return 'int'
    case 'int8':
    case 'oid': // unsigned 32-bit: does not fit int
      return 'long'
    case 'float4':
      return 'float'
    case 'float8':
      return 'double'
    case 'uuid':
      return { type: 'string', logicalType: 'uuid' }
    case 'date':
      return { type: 'int', logicalType: 'date' }
    case 'timestamptz':
      return { type: 'long', logicalType: 'timestamp-micros' }
    case 'timestamp':
      return { type: 'long', logicalType: 'local-timestamp-micros' }
    case 'bytea':
      return 'bytes'
    case 'json':
    case 'jsonb':
      return { type: 'string', logicalType: 'json' }
    default:
      return 'string' // numeric, money, text, varchar, time, interval, enums…: their text form
  }
}

function deriveJsonSchema(fields: readonly SchemaField[], name: string): DerivedSchema {
  const properties: Record<string, unknown> = {}
  for (const { field, column } of fields) properties[field] = jsonColumnType(column)
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: name,
    type: 'object',
    properties,
    required: fields.map(({ field }) => field),
    additionalProperties: false,
  }
}

function jsonColumnType(column: ColumnInfo): Record<string, unknown> {
  const element = arrayElement(column)
  const type = element !== undefined ? { type: 'array', items: nullableJson(jsonScalarType(element)) } : jsonScalarType(column.typeName)
  return column.nullable ? nullableJson(type) : type
}

const NON_FINITE = ['NaN', 'Infinity', '-Infinity']

function jsonScalarType(typeName: string): Record<string, unknown> {
  switch (typeName) {
    case 'bool':
      return { type: 'boolean' }
    case 'int2':
    case 'int4':
      return { type: 'integer' }
    case 'int8':
    case 'oid':
      return { anyOf: [{ type: 'integer' }, { type: 'string', pattern: '^-?[0-9]+$' }] } // anyOf, not a type list: ajv's strict mode warns about those
    case 'float4':
    case 'float8':
      return { anyOf: [{ type: 'number' }, { enum: NON_FINITE }] }
    case 'bytea':
      return { type: 'string', contentEncoding: 'base64' }
    case 'json':
    case 'jsonb':
      return {}
    default:
      return { type: 'string' }
  }
}

function nullableJson(schema: Record<string, unknown>): Record<string, unknown> {
  if (Object.keys(schema).length === 0) return schema // {} already allows null
  if (Array.isArray(schema.anyOf)) return { ...schema, anyOf: [...schema.anyOf, { type: 'null' }] }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type]
  return { ...schema, type: [...types, 'null'] }
}

function arrayElement(column: ColumnInfo): string | undefined {
  if (column.elementTypeName !== undefined) return column.elementTypeName
  return column.typeName.startsWith('_') ? column.typeName.slice(1) : undefined
}
