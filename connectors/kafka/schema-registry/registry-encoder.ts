/**
 * Encodes message values for a Schema Registry: Avro or JSON Schema, in the Confluent wire format
 * (byte 0 = magic 0, bytes 1–4 = schema id, big-endian; then the Avro binary or the JSON text).
 *
 * `init()` runs once at start-up: it registers the schema under the subject `<topic>-value` (topic-name strategy)
 * or, with `autoRegister: false`, looks it up, and keeps the id. `encode()` is then synchronous and makes no
 * request: Avro with the avsc type built here (rowcast's value conversions, see avro-types.ts), JSON Schema
 * validated with the `@kafkajs/confluent-schema-registry` validator for the registered schema.
 * A value that does not fit: RowcastError ROW_SCHEMA_MISMATCH naming the field(s) (never their values).
 */
import { Agent as HttpsAgent } from 'node:https'
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import avro from 'avsc'
import type { Type } from 'avsc'
import { RowcastError, errorMessage } from '../../../core/errors.ts'
import type { Logger } from '../../../core/logger.ts'
import { JsonText } from '../../../core/json-text.ts'
import { rowcastAvroOptions } from './avro-types.ts'
import { objectMembers } from './json-members.ts'
import type { SchemaRegistryConfig } from './config.ts'
import type { DerivedSchema, MessageSchemaFormat } from './derive-schema.ts'
import { createRegistryClient } from './registry-client.ts'
import type { RegistrySchemaType } from './registry-client.ts'

export interface RegistryEncoderOptions {
  config: SchemaRegistryConfig
  format: MessageSchemaFormat
  /** The schema: a file's text, or what deriveSchema returned. */
  schema: string | DerivedSchema
  topic: string
  logger: Logger
}

export interface RegistryEncoder {
  readonly subject: string
  /** The registry's id of the schema; undefined until init() resolved. */
  readonly schemaId: number | undefined
  init(): Promise<void>
  /** A composed message value (object, or its JSON text) → wire-format bytes. Throws ROW_SCHEMA_MISMATCH. */
  encode(value: object | string): Buffer
}

export const WIRE_HEADER_BYTES = 5

export function createRegistryEncoder(options: RegistryEncoderOptions): RegistryEncoder {
  const { config, format, topic } = options
  const subject = `${topic}-value`
  const logger = options.logger.child({ component: 'schema-registry', subject })
  const schemaText = typeof options.schema === 'string' ? options.schema : JSON.stringify(options.schema)
  const schemaType: RegistrySchemaType = format === 'avro' ? 'AVRO' : 'JSON'
  const avroType = format === 'avro' ? compileAvro(schemaText, subject) : undefined
  if (format === 'json-schema') parseSchemaText(schemaText, subject)
  const client = createRegistryClient(config)

  let schemaId: number | undefined
  let writeBody: ((value: object | string) => Buffer) | undefined
  let initializing: Promise<void> | undefined

  const init = async (): Promise<void> => {
    const id = config.autoRegister ? await client.register(subject, schemaType, schemaText) : await client.lookup(subject, schemaType, schemaText)
    writeBody = avroType !== undefined ? avroWriter(avroType, id) : await jsonWriter(config, id, subject)
    schemaId = id
    logger.info({ schemaId: id, format, registered: config.autoRegister }, 'schema ready in the registry')
  }

  return {
    subject,
    get schemaId() {
      return schemaId
    },
    init() {
      initializing ??= init().catch((error: unknown) => {
        initializing = undefined // a retriable failure may be retried
        throw error
      })
      return initializing
    },
    encode(value) {
      if (writeBody === undefined) throw new RowcastError('REGISTRY_NOT_READY', `encode() before init() resolved for subject ${subject}`)
      return writeBody(value)
    },
  }
}

/** The 5-byte Confluent header: magic byte 0 and the schema id as a big-endian int32. */
export function wireHeader(schemaId: number): Buffer {
  const header = Buffer.alloc(WIRE_HEADER_BYTES)
  header.writeInt32BE(schemaId, 1)
  return header
}

function parseSchemaText(text: string, subject: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new RowcastError('SCHEMA_INVALID', `the schema for ${subject} is not JSON: ${errorMessage(error)}`)
  }
}

function compileAvro(text: string, subject: string): Type {
  const parsed = parseSchemaText(text, subject)
  let type: Type
  try {
    type = avro.Type.forSchema(parsed as avro.Schema, rowcastAvroOptions())
  } catch (error) {
    throw new RowcastError('SCHEMA_INVALID', `the Avro schema for ${subject} is invalid: ${errorMessage(error)}`)
  }
  if (type.typeName !== 'record') throw new RowcastError('SCHEMA_INVALID', `the Avro schema for ${subject} must be a record, not ${type.typeName}`)
  return type
}

/** Encodes into one growing scratch buffer (header already in place), then copies out exactly the bytes used. */
function avroWriter(type: Type, schemaId: number): (value: object | string) => Buffer {
  let scratch = Buffer.alloc(64 * 1024)
  wireHeader(schemaId).copy(scratch)
  const read = messageReader(type)
  return (input) => {
    const value = typeof input === 'string' ? read(input) : input
    let end: number
    try {
      end = type.encode(value, scratch, WIRE_HEADER_BYTES)
      if (end < 0) {
        const bigger = Buffer.alloc(scratch.length * 2 - end)
        scratch.copy(bigger, 0, 0, WIRE_HEADER_BYTES)
        scratch = bigger
        end = type.encode(value, scratch, WIRE_HEADER_BYTES)
      }
    } catch {
      throw avroMismatch(type, value)
    }
    return Buffer.from(scratch.subarray(0, end))
  }
}

/**
 * A composed message's text as the record's value. Fields of Avro type string (or rowcast's json logical type) take
 * a JSON document (object, array; any value for json) as its text as composed, so a json/jsonb column keeps
 * PostgreSQL's text exactly; everything else is JSON.parse'd as before.
 */
function messageReader(type: Type): (text: string) => object {
  const textFields = new Map<string, 'json' | 'string'>()
  for (const field of (type as unknown as { fields: { name: string; type: Type }[] }).fields) {
    const names = branches(field.type).map((t) => t.typeName)
    if (names.includes('logical:json')) textFields.set(field.name, 'json')
    else if (names.includes('string')) textFields.set(field.name, 'string')
  }
  if (textFields.size === 0) return (text) => JSON.parse(text) as object
  return (text) => {
    const members = objectMembers(text)
    if (members === undefined) return JSON.parse(text) as object
    const value: Record<string, unknown> = {}
    for (const [name, raw] of members) {
      const kind = textFields.get(name)
      const first = raw.charCodeAt(0)
      const document = first === 0x7b /* { */ || first === 0x5b /* [ */
      if (kind === 'json' && raw !== 'null') value[name] = new JsonText(raw)
      else if (kind === 'string' && document) value[name] = raw
      else value[name] = JSON.parse(raw)
    }
    return value
  }
}

function branches(type: Type): Type[] {
  const types = (type as unknown as { types?: Type[] }).types
  return Array.isArray(types) ? types : [type]
}

function avroMismatch(type: Type, value: unknown): RowcastError {
  const problems: string[] = []
  type.isValid(value, {
    errorHook: (path: string[], got: unknown, expected: Type) => {
      problems.push(`field "${path.join('.') || '(root)'}" (expected ${describeAvro(expected)}, got ${describeValue(got)})`)
    },
  })
  const what = problems.length > 0 ? problems.join('; ') : 'the value'
  return new RowcastError('ROW_SCHEMA_MISMATCH', `the message does not fit the Avro schema: ${what}`)
}

function describeAvro(type: Type): string {
  const name = type.typeName
  if (name === 'abstract:long') return 'long'
  // PostgreSQL's infinity and instants past ±292,000 years have no int64 count of µs (ms) since 1970.
  if (/^logical:(local-)?timestamp-/.test(name)) return `${name.slice(8)}, a timestamp within int64 ${name.endsWith('micros') ? 'µs' : 'ms'} of 1970 (not infinity)`
  if (name === 'logical:undefined') return String((type as unknown as { underlyingType: Type }).underlyingType.typeName)
  if (name === 'union:unwrapped' || name === 'union:wrapped') return (type as unknown as { types: Type[] }).types.map(describeAvro).join(' | ')
  return name
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing'
  return Array.isArray(value) ? 'array' : typeof value
}

/**
 * JSON Schema: the registry library compiles the registered schema (ajv) and caches it by id; we keep the
 * validator and write `header + JSON text` (the caller's text itself when it gave one).
 */
async function jsonWriter(config: SchemaRegistryConfig, schemaId: number, subject: string): Promise<(value: object | string) => Buffer> {
  // Loaded here, not at start-up: it brings ajv, protobufjs and more (~2 MiB of heap) that only JSON Schema needs.
  const { SchemaRegistry, SchemaType } = await import('@kafkajs/confluent-schema-registry')
  const registry = new SchemaRegistry(
    {
      host: config.url,
      clientId: 'rowcast',
      ...(config.auth === undefined ? {} : { auth: config.auth }),
      ...(config.ca === undefined ? {} : { agent: new HttpsAgent({ ca: config.ca }) }),
    },
    { [SchemaType.JSON]: { strict: false, allErrors: true, logger: false } },
  )
  let validator: Awaited<ReturnType<SchemaRegistry['getSchema']>>
  try {
    validator = await registry.getSchema(schemaId)
  } catch (error) {
    throw new RowcastError('SCHEMA_INVALID', `cannot compile the JSON Schema of ${subject} (id ${schemaId}): ${errorMessage(error)}`, { cause: error })
  }
  const header = wireHeader(schemaId)
  return (input) => {
    const value: unknown = typeof input === 'string' ? JSON.parse(input) : input
    const problems: string[] = []
    if (!validator.isValid(value as object, { errorHook: (path, message) => problems.push(`field "${jsonPath(path)}" ${String(message)}`) })) {
      throw new RowcastError('ROW_SCHEMA_MISMATCH', `the message does not fit the JSON Schema: ${problems.join('; ') || 'invalid'}`)
    }
    const text = typeof input === 'string' ? input : JSON.stringify(value)
    const body = Buffer.from(text, 'utf8')
    return Buffer.concat([header, body], WIRE_HEADER_BYTES + body.length)
  }
}

/** ajv's instancePath "/customer/0/id" → "customer.0.id"; the root is "(root)". */
function jsonPath(path: string[]): string {
  const joined = path.join('')
  return joined === '' ? '(root)' : joined.replace(/^\//, '').replace(/\//g, '.')
}
