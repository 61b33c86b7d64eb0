/**
 * The registry encoder against a real Confluent-compatible registry (Apicurio, started by
 * `bash scripts/registry.sh up`, or `STACK_REGISTRY=1 npm run stack:up`), which writes SCHEMA_REGISTRY_URL to .stack/env.
 * Rows are encoded by rowcast and decoded by @kafkajs/confluent-schema-registry's `decode`, fetching the schema
 * by the id in the wire header from the registry.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import type { RowcastError } from '../../core/errors.ts'
import { createLogger } from '../../core/logger.ts'
import type { ColumnInfo } from '../../core/changes.ts'
import { rowcastAvroOptions } from '../../connectors/kafka/schema-registry/avro-types.ts'
import { parseSchemaRegistryConfig } from '../../connectors/kafka/schema-registry/config.ts'
import { deriveSchema } from '../../connectors/kafka/schema-registry/derive-schema.ts'
import type { SchemaField } from '../../connectors/kafka/schema-registry/derive-schema.ts'
import { createRegistryClient } from '../../connectors/kafka/schema-registry/registry-client.ts'
import { createRegistryEncoder } from '../../connectors/kafka/schema-registry/registry-encoder.ts'

const url = stackEnv().SCHEMA_REGISTRY_URL
const skip = url === undefined ? 'SCHEMA_REGISTRY_URL is not in .stack/env: run `bash scripts/registry.sh up` (or STACK_REGISTRY=1 npm run stack:up)' : false
const logger = createLogger({ level: 'silent' })
const env = stackEnv()
const httpsUrl = env.SCHEMA_REGISTRY_HTTPS_URL
const skipTls = url === undefined ? skip : httpsUrl === undefined ? 'SCHEMA_REGISTRY_HTTPS_URL is not in .stack/env (the registry serves HTTPS only when .stack/tls exists)' : false

function stackEnv(): Record<string, string> {
  const file = new URL('../../.stack/env', import.meta.url)
  if (!existsSync(file)) return {}
  const env: Record<string, string> = {}
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line)
    if (m) env[m[1]] = m[2]
  }
  return env
}

const column = (name: string, typeName: string, nullable = false): ColumnInfo => ({
  name,
  typeOid: 0,
  typeName,
  nullable,
  ...(typeName.startsWith('_') ? { elementTypeName: typeName.slice(1) } : {}),
})

const fields: SchemaField[] = [
  { field: 'customer_id', column: column('id', 'int8') },
  { field: 'customer_email', column: column('email_address', 'text', true) },
  { field: 'active', column: column('active', 'bool') },
  { field: 'score', column: column('score', 'float8', true) },
  { field: 'balance', column: column('balance', 'numeric') },
  { field: 'created_at', column: column('created_at', 'timestamptz') },
  { field: 'local_time', column: column('local_time', 'timestamp', true) },
  { field: 'birthday', column: column('birthday', 'date', true) },
  { field: 'avatar', column: column('avatar', 'bytea', true) },
  { field: 'profile', column: column('profile', 'jsonb', true) },
  { field: 'tags', column: column('tags', '_text', true) },
  { field: 'ref', column: column('ref', 'uuid') },
]

/** Rows as connectors/postgres/values.ts delivers them. */
const rows = [
  {
    customer_id: 42,
    customer_email: 'ada@example.com',
    active: true,
    score: 1.5,
    balance: '1234.50',
    created_at: '2024-01-02T03:04:05.123456Z',
    local_time: '2024-01-02T03:04:05.5',
    birthday: '1815-12-10',
    avatar: Buffer.from([0, 1, 2, 250]).toString('base64'),
    profile: { theme: 'dark', langs: ['en', 'fr'], n: 1 },
    tags: ['a', null, 'c'],
    ref: '6f1c1b8e-6d0a-4b8f-9a57-0e2d5b7f7c11',
  },
  {
    customer_id: '9223372036854775807',
    customer_email: null,
    active: false,
    score: 'NaN',
    balance: '-0.000001',
    created_at: '1969-12-31T23:59:59.999999Z',
    local_time: null,
    birthday: null,
    avatar: null,
    profile: null,
    tags: null,
    ref: '00000000-0000-0000-0000-000000000000',
  },
]

const topic = (label: string) => `rowcast-sr-${label}-${randomUUID().slice(0, 8)}`

describe('schema registry encoder (real registry)', { skip }, () => {
  const config = parseSchemaRegistryConfig({ url }, process.cwd())

  test('Avro: registers the derived schema, encodes rows, the library decodes them back', async () => {
    const encoder = createRegistryEncoder({ config, format: 'avro', schema: deriveSchema('avro', fields, 'users'), topic: topic('avro'), logger })
    await encoder.init()
    const id = encoder.schemaId
    assert.ok(typeof id === 'number' && id > 0)

    // With rowcast's Avro options the library gives back exactly the row that went in.
    const exact = new SchemaRegistry({ host: url as string }, { [SchemaType.AVRO]: rowcastAvroOptions() })
    for (const row of rows) {
      const bytes = encoder.encode(row)
      assert.equal(bytes[0], 0)
      assert.equal(bytes.readInt32BE(1), id)
      const decoded = await exact.decode(bytes)
      assert.deepEqual({ ...decoded }, row)
    }

    // A plain client (standard Avro types, no rowcast options) reads the standard representations.
    const plain = new SchemaRegistry({ host: url as string })
    const decoded = (await plain.decode(encoder.encode(rows[0]))) as Record<string, unknown>
    assert.equal(decoded.customer_id, 42)
    assert.equal(decoded.created_at, Date.UTC(2024, 0, 2, 3, 4, 5) * 1000 + 123456) // timestamp-micros
    assert.equal(decoded.local_time, Date.UTC(2024, 0, 2, 3, 4, 5) * 1000 + 500000)
    assert.equal(decoded.birthday, -56_270) // days since 1970-01-01
    assert.deepEqual(decoded.avatar, Buffer.from([0, 1, 2, 250]))
    assert.deepEqual(JSON.parse(decoded.profile as string), rows[0].profile)
    assert.deepEqual(decoded.tags, ['a', null, 'c'])
  })

  test('Avro: the same schema again gets the same id; a row that does not fit names the field', async () => {
    const name = topic('again')
    const schema = deriveSchema('avro', fields, 'users')
    const first = createRegistryEncoder({ config, format: 'avro', schema, topic: name, logger })
    const second = createRegistryEncoder({ config, format: 'avro', schema: JSON.stringify(schema), topic: name, logger })
    await first.init()
    await second.init()
    assert.equal(second.schemaId, first.schemaId)
    assert.throws(
      () => first.encode({ ...rows[0], customer_id: 'forty-two' }),
      (error: RowcastError) => error.code === 'ROW_SCHEMA_MISMATCH' && /customer_id/.test(error.message) && !/forty-two/.test(error.message),
    )
    assert.throws(() => first.encode({ ...rows[0], active: null }), (error: RowcastError) => error.code === 'ROW_SCHEMA_MISMATCH' && /"active"/.test(error.message))
  })

  test('JSON Schema: registers, encodes, the library decodes (and validates) them back', async () => {
    const encoder = createRegistryEncoder({ config, format: 'json-schema', schema: deriveSchema('json-schema', fields, 'users'), topic: topic('json'), logger })
    await encoder.init()
    const plain = new SchemaRegistry({ host: url as string })
    for (const row of rows) {
      const bytes = encoder.encode(row)
      assert.equal(bytes[0], 0)
      assert.equal(bytes.readInt32BE(1), encoder.schemaId)
      assert.deepEqual(await plain.decode(bytes), row)
      assert.deepEqual(await plain.decode(encoder.encode(JSON.stringify(row))), row) // the composer's JSON text works too
    }
    assert.throws(
      () => encoder.encode({ ...rows[0], active: 'yes' }),
      (error: RowcastError) => error.code === 'ROW_SCHEMA_MISMATCH' && /"active"/.test(error.message),
    )
  })

  test('an incompatible change under BACKWARD compatibility is refused with the registry\'s reason', async () => {
    const name = topic('compat')
    const v1 = deriveSchema('avro', fields.slice(0, 3), 'users')
    await createRegistryEncoder({ config, format: 'avro', schema: v1, topic: name, logger }).init()
    await createRegistryClient(config).setCompatibility(`${name}-value`, 'BACKWARD')

    // A new required field without a default: old records cannot be read with it.
    const v2 = deriveSchema('avro', [...fields.slice(0, 3), { field: 'plan', column: column('plan', 'text') }], 'users')
    const refused = createRegistryEncoder({ config, format: 'avro', schema: v2, topic: name, logger })
    await assert.rejects(refused.init(), (error: RowcastError) => {
      assert.equal(error.code, 'SCHEMA_INCOMPATIBLE')
      assert.equal(error.retriable, false)
      assert.match(error.message, /HTTP 409/)
      assert.match(error.message, /incompatible/i)
      assert.match(error.message, /plan/) // the registry names the offending field
      return true
    })

    // A nullable field (with default null) is a compatible change.
    const v3 = deriveSchema('avro', [...fields.slice(0, 3), { field: 'plan', column: column('plan', 'text', true) }], 'users')
    const accepted = createRegistryEncoder({ config, format: 'avro', schema: v3, topic: name, logger })
    await accepted.init()
    assert.ok((accepted.schemaId ?? 0) > 0)
  })

  test('autoRegister: false looks the schema up, and says so when it is not registered', async () => {
    const name = topic('lookup')
    const schema = deriveSchema('json-schema', fields, 'users')
    const registered = createRegistryEncoder({ config, format: 'json-schema', schema, topic: name, logger })
    await registered.init()
    const lookupConfig = { ...config, autoRegister: false }
    const found = createRegistryEncoder({ config: lookupConfig, format: 'json-schema', schema, topic: name, logger })
    await found.init()
    assert.equal(found.schemaId, registered.schemaId)
    const missing = createRegistryEncoder({ config: lookupConfig, format: 'json-schema', schema, topic: topic('never'), logger })
    await assert.rejects(missing.init(), (error: RowcastError) => error.code === 'SCHEMA_NOT_REGISTERED' && !error.retriable)
  })

  test('a registry that does not answer is a retriable REGISTRY_UNAVAILABLE', async () => {
    const closed = parseSchemaRegistryConfig({ url: 'http://127.0.0.1:9/apis/ccompat/v7' }, process.cwd())
    const encoder = createRegistryEncoder({ config: closed, format: 'avro', schema: deriveSchema('avro', fields, 'users'), topic: topic('down'), logger })
    await assert.rejects(encoder.init(), (error: RowcastError) => error.code === 'REGISTRY_UNAVAILABLE' && error.retriable)
    assert.equal(encoder.schemaId, undefined)
  })
})

describe('schema registry over HTTPS (real registry)', { skip: skipTls }, () => {
  const caFile = env.SCHEMA_REGISTRY_CA_FILE
  const otherCa = caFile?.replace(/ca\.pem$/, 'other-ca.pem')

  test('with the CA that signed its certificate: registers and encodes (JSON Schema compiled over the same TLS)', async () => {
    const config = parseSchemaRegistryConfig({ url: httpsUrl, ca: caFile }, process.cwd())
    const encoder = createRegistryEncoder({ config, format: 'json-schema', schema: deriveSchema('json-schema', fields, 'users'), topic: topic('tls'), logger })
    await encoder.init()
    assert.equal(encoder.encode(rows[0]).readInt32BE(1), encoder.schemaId)
  })

  test('with another CA, or the system trust store: REGISTRY_TLS_UNTRUSTED, not retriable', async () => {
    for (const input of [{ url: httpsUrl, ca: otherCa }, { url: httpsUrl }]) {
      const config = parseSchemaRegistryConfig(input, process.cwd())
      const encoder = createRegistryEncoder({ config, format: 'avro', schema: deriveSchema('avro', fields, 'users'), topic: topic('untrusted'), logger })
      await assert.rejects(encoder.init(), (error: RowcastError) => error.code === 'REGISTRY_TLS_UNTRUSTED' && !error.retriable)
    }
  })
})
