/**
 * rowcast with `message.format: avro | json-schema` against the real stack and the real registry
 * (`STACK_REGISTRY=1`, which scripts/test.sh and .ci/run set; locally `bash scripts/registry.sh up`):
 * row changes in PostgreSQL arrive in Kafka in the Confluent wire format, and a consumer decodes them with
 * @kafkajs/confluent-schema-registry's `decode`, fetching the schema from the registry by the id in the header.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import { rowcastAvroOptions } from '../../connectors/kafka/schema-registry/avro-types.ts'
import { parseSchemaRegistryConfig } from '../../connectors/kafka/schema-registry/config.ts'
import { createRegistryClient } from '../../connectors/kafka/schema-registry/registry-client.ts'
import { parseConfig } from '../../config/load-config.ts'
import type { RowcastConfig } from '../../config/root-schema.ts'
import type { Daemon } from '../../daemon/daemon.ts'
import { createTopics, eventually, kafkaClient, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { recordedSlot } from '../support/sync-helpers.ts'

const env = await stack()
const url = env.SCHEMA_REGISTRY_URL
const skip = url === undefined && process.env.CI !== 'true' ? 'SCHEMA_REGISTRY_URL is not in .stack/env: run `bash scripts/registry.sh up` (or STACK_REGISTRY=1 npm run stack:up)' : false
/** A config like the harness's configFor, with the stack's registry as destination.schemaRegistry. */
function registryConfig(syncYaml: string): RowcastConfig {
  return parseConfig(`
source:
  postgres: { url: "${env.ROWCAST_PG_URL}", heartbeatIntervalMs: 1000, statusIntervalMs: 1000, streamGroup: { slot: ${TEST_GROUP} } }
destination:
  kafka: { clientId: rowcast-test, brokers: "${env.KAFKA_BOOTSTRAP_PLAINTEXT}" }
  schemaRegistry: { url: "${url}" }
syncs:
${syncYaml}`, process.cwd())
}

interface RawMessage {
  topic: string
  key: string | null
  value: Buffer
}

/** A real consumer that keeps the value bytes (the harness's consume() turns them into text). */
async function consumeRaw(topics: string[]) {
  const consumer = kafkaClient(env).consumer({ groupId: uniqueName('test') })
  await consumer.connect()
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true })
  const messages: RawMessage[] = []
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      messages.push({ topic, key: message.key?.toString() ?? null, value: message.value ?? Buffer.alloc(0) })
    },
  })
  return {
    messages,
    waitFor: (count: number) => eventually(() => messages.length, (n) => n >= count, 30_000, `${count} messages`).then(() => messages),
    stop: () => consumer.disconnect(),
  }
}

/** Tables (= sync names) this file created: their slots, publications and tables are dropped at the end. */
const tables: string[] = []
function newTable(prefix: string): string {
  const name = uniqueName(prefix)
  tables.push(name, `${name}_v2`)
  return name
}

async function dropSyncs(): Promise<void> {
  for (const name of tables) {
    await sql(env, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [`rowcast_${name}`])
    await sql(env, `DROP PUBLICATION IF EXISTS rowcast_${name}`)
    await sql(env, `DROP TABLE IF EXISTS ${name}`)
  }
}

async function slotExists(name: string): Promise<boolean> {
  const result = await sql(env, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [name])
  return result.rowCount === 1
}

async function withDaemon(config: RowcastConfig, body: (daemon: Daemon) => Promise<void>): Promise<void> {
  const daemon = await runDaemon(config)
  try {
    await body(daemon)
  } finally {
    await daemon.stop()
  }
}

describe('schema registry end to end: PostgreSQL -> rowcast -> Kafka -> decode', { skip }, () => {
  after(dropSyncs)

  test('Avro (schema derived from the mapping): inserts, updates and a key-only delete decode back to the rows', async () => {
    const table = newTable('sr_avro')
    const topic = uniqueName('sr-avro')
    // Default replica identity: a delete carries only the key, so the non-key fields are derived nullable.
    await sql(env, `CREATE TABLE ${table} (id int8 PRIMARY KEY, email text NOT NULL, score float8, active bool NOT NULL, meta jsonb, tags text[], seen timestamptz, balance numeric, blob bytea)`)
    await createTopics(env, [topic], 1)
    const config = registryConfig(`
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message:
      format: avro
      mapping: { customer_id: id, customer_email: email, score: score, active: active, meta: meta, tags: tags, seen: seen, balance: balance, blob: blob }
`)
    const consumer = await consumeRaw([topic])
    try {
      await withDaemon(config, async (daemon) => {
        await streaming(daemon)
        await sql(env, `INSERT INTO ${table} VALUES (1, 'ada@example.com', 1.5, true, '{"theme": "dark", "n": [1, null]}', '{a,NULL,"b c"}', '2024-01-02 03:04:05.123456+00', 1234.50, '\\x0001fa')`)
        await sql(env, `INSERT INTO ${table} VALUES (9223372036854775807, 'max@example.com', 'NaN', false, NULL, NULL, NULL, -0.000001, NULL)`)
        await sql(env, `UPDATE ${table} SET email = 'ada2@example.com' WHERE id = 1`)
        await sql(env, `DELETE FROM ${table} WHERE id = 9223372036854775807`)
        await consumer.waitFor(4)
      })
      const registry = new SchemaRegistry({ host: url as string }, { [SchemaType.AVRO]: rowcastAvroOptions() })
      const schemaId = await registry.getLatestSchemaId(`${topic}-value`)
      for (const m of consumer.messages) {
        assert.equal(m.value[0], 0, 'magic byte')
        assert.equal(m.value.readInt32BE(1), schemaId, 'the id of the schema registered under <topic>-value')
      }
      const decoded = await Promise.all(consumer.messages.map((m) => registry.decode(m.value)))
      const ada = {
        customer_id: 1, customer_email: 'ada@example.com', score: 1.5, active: true, meta: { theme: 'dark', n: [1, null] }, tags: ['a', null, 'b c'],
        seen: '2024-01-02T03:04:05.123456Z', balance: '1234.50', blob: Buffer.from([0, 1, 250]).toString('base64'),
      }
      const max = { customer_id: '9223372036854775807', customer_email: 'max@example.com', score: 'NaN', active: false, meta: null, tags: null, seen: null, balance: '-0.000001', blob: null }
      const nothing = { customer_email: null, score: null, active: null, meta: null, tags: null, seen: null, balance: null, blob: null }
      assert.deepEqual(decoded.map((d) => ({ ...d })), [ada, max, { ...ada, customer_email: 'ada2@example.com' }, { ...nothing, customer_id: '9223372036854775807' }])
      assert.deepEqual(consumer.messages.map((m) => m.key), ['1', '9223372036854775807', '1', '9223372036854775807'])

      // A consumer without rowcast's Avro options reads the standard Avro representations.
      const plain = (await new SchemaRegistry({ host: url as string }).decode(consumer.messages[0].value)) as Record<string, unknown>
      assert.equal(plain.seen, Date.UTC(2024, 0, 2, 3, 4, 5) * 1000 + 123456)
      assert.deepEqual(plain.blob, Buffer.from([0, 1, 250]))
    } finally {
      await consumer.stop()
    }
  })

  test('JSON Schema, per-trigger topics: each topic gets its own subject; the library validates and decodes', async () => {
    const table = newTable('sr_json')
    const added = uniqueName('sr-json-added')
    const changed = uniqueName('sr-json-changed')
    await sql(env, `CREATE TABLE ${table} (id int4 PRIMARY KEY, email text, big int8, seen timestamptz)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await createTopics(env, [added, changed], 1)
    const config = registryConfig(`
  - name: ${table}
    model: { table: public.${table} }
    triggers: [added, changed]
    topic: { added: ${added}, changed: ${changed} }
    message:
      format: json-schema
      mapping: { id: id, email: email, big: big, seen: seen }
`)
    const consumer = await consumeRaw([added, changed])
    try {
      await withDaemon(config, async (daemon) => {
        await streaming(daemon)
        await sql(env, `INSERT INTO ${table} VALUES (1, 'a@example.com', 9007199254740993, '2024-05-06 07:08:09+00')`)
        await sql(env, `UPDATE ${table} SET email = NULL WHERE id = 1`)
        await consumer.waitFor(2)
      })
      const registry = new SchemaRegistry({ host: url as string })
      const byTopic = Object.fromEntries(consumer.messages.map((m) => [m.topic, m.value]))
      assert.deepEqual(await registry.decode(byTopic[added]), { id: 1, email: 'a@example.com', big: '9007199254740993', seen: '2024-05-06T07:08:09Z' })
      assert.deepEqual(await registry.decode(byTopic[changed]), { id: 1, email: null, big: '9007199254740993', seen: '2024-05-06T07:08:09Z' })
      assert.equal(byTopic[added].readInt32BE(1), await registry.getLatestSchemaId(`${added}-value`))
      assert.equal(byTopic[changed].readInt32BE(1), await registry.getLatestSchemaId(`${changed}-value`))
    } finally {
      await consumer.stop()
    }
  })

  test('a template with a schema file: a row that does not fit goes to onRowError (dead letter) naming the field', async () => {
    const table = newTable('sr_file')
    const topic = uniqueName('sr-file')
    const dead = uniqueName('sr-dead')
    await sql(env, `CREATE TABLE ${table} (id int4 PRIMARY KEY, email text)`)
    await createTopics(env, [topic, dead], 1)
    const dir = mkdtempSync(join(tmpdir(), 'rowcast-sr-'))
    const schemaFile = join(dir, 'user.schema.json')
    writeFileSync(schemaFile, JSON.stringify({
      $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', additionalProperties: false, required: ['id', 'email'],
      properties: { id: { type: 'integer' }, email: { type: 'string', pattern: '@' } },
    }))
    const config = registryConfig(`
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    onRowError: { deadLetter: { topic: ${dead} } }
    message:
      format: json-schema
      schema: ${schemaFile}
      template: '{"id": {{row.id}}, "email": "{{row.email}}"}'
`)
    const consumer = await consumeRaw([topic, dead])
    try {
      await withDaemon(config, async (daemon) => {
        await streaming(daemon)
        await sql(env, `INSERT INTO ${table} VALUES (1, 'a@example.com'), (2, 'not-an-email'), (3, 'c@example.com')`)
        await consumer.waitFor(3)
      })
      const registry = new SchemaRegistry({ host: url as string })
      const good = consumer.messages.filter((m) => m.topic === topic)
      assert.deepEqual(await Promise.all(good.map((m) => registry.decode(m.value))), [{ id: 1, email: 'a@example.com' }, { id: 3, email: 'c@example.com' }])
      const letters = consumer.messages.filter((m) => m.topic === dead).map((m) => JSON.parse(m.value.toString('utf8')) as Record<string, unknown>)
      assert.equal(letters.length, 1)
      assert.equal(letters[0].code, 'ROW_SCHEMA_MISMATCH')
      assert.equal(letters[0].reason, 'schema')
      assert.match(String(letters[0].error), /field "email"/)
      assert.deepEqual(letters[0].row, { id: 2, email: 'not-an-email' })
    } finally {
      await consumer.stop()
    }
  })

  test('an incompatible schema for the same subject under BACKWARD fails the second sync at start-up with the registry\'s reason', async () => {
    const table = newTable('sr_compat')
    const topic = uniqueName('sr-compat')
    await sql(env, `CREATE TABLE ${table} (id int4 PRIMARY KEY, email text, plan text NOT NULL DEFAULT 'free')`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await createTopics(env, [topic], 1)
    const v1 = registryConfig(`
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    message: { format: avro, mapping: { id: id, email: email } }
`)
    await withDaemon(v1, (daemon) => streaming(daemon))
    await createRegistryClient(parseSchemaRegistryConfig({ url }, process.cwd())).setCompatibility(`${topic}-value`, 'BACKWARD')

    // A second sync writing to the same topic adds a required field without a default: old records cannot be read with it.
    const second = `${table}_v2`
    const v2 = registryConfig(`
  - name: ${second}
    model: { table: public.${table} }
    topic: ${topic}
    message: { format: avro, mapping: { id: id, email: email, plan: plan } }
`)
    const daemon = await runDaemon(v2)
    try {
      const reasons: string[] = []
      daemon.telemetry.on('state', (event) => {
        if (event.state === 'failed' && event.reason !== undefined) reasons.push(event.reason)
      })
      await eventually(() => daemon.syncs[0].state, (state) => state === 'failed', 30_000, 'the sync to fail')
      await eventually(() => reasons.length, (n) => n > 0, 5_000, 'the failed state event')
      assert.match(reasons[0], /HTTP 409/)
      assert.match(reasons[0], /incompatible/i)
      assert.match(reasons[0], /plan/)
      assert.match(reasons[0], new RegExp(`${topic}-value`))
      assert.equal(await slotExists(`rowcast_${second}`), false, 'refused before any replication slot was created')
      assert.equal(await recordedSlot(env, second), null, 'and before it joined its stream group')
    } finally {
      await daemon.stop()
    }
  })

  test('Avro, topic read from a column: each new topic\'s schema is registered on first use', async () => {
    const table = newTable('sr_col')
    const orders = uniqueName('sr-col-orders')
    const refunds = uniqueName('sr-col-refunds')
    await sql(env, `CREATE TABLE ${table} (id int4 PRIMARY KEY, dest text NOT NULL, amount numeric NOT NULL)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await createTopics(env, [orders, refunds], 1)
    const config = registryConfig(`
  - name: ${table}
    model: { table: public.${table} }
    topic: { column: dest }
    message: { format: avro, mapping: { id: id, amount: amount } }
`)
    const consumer = await consumeRaw([orders, refunds])
    try {
      await withDaemon(config, async (daemon) => {
        await streaming(daemon)
        await sql(env, `INSERT INTO ${table} VALUES (1, '${orders}', 10.5), (2, '${refunds}', -3)`)
        await sql(env, `INSERT INTO ${table} VALUES (3, '${orders}', 7)`)
        await consumer.waitFor(3)
      })
      const registry = new SchemaRegistry({ host: url as string }, { [SchemaType.AVRO]: rowcastAvroOptions() })
      const decoded = await Promise.all(consumer.messages.map(async (m) => ({ topic: m.topic, id: m.value.readInt32BE(1), row: { ...(await registry.decode(m.value)) } })))
      const ordersId = await registry.getLatestSchemaId(`${orders}-value`)
      const refundsId = await registry.getLatestSchemaId(`${refunds}-value`)
      assert.deepEqual(decoded.filter((d) => d.topic === orders), [{ topic: orders, id: ordersId, row: { id: 1, amount: '10.5' } }, { topic: orders, id: ordersId, row: { id: 3, amount: '7' } }])
      assert.deepEqual(decoded.filter((d) => d.topic === refunds), [{ topic: refunds, id: refundsId, row: { id: 2, amount: '-3' } }])
    } finally {
      await consumer.stop()
    }
  })
})
