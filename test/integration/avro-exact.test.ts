/**
 * Avro longs exact over the whole int64 range (issue 14 item 7), on the real stack and the real Schema Registry
 * (`STACK_REGISTRY=1`), decoded by Apache Avro's Java decoder (test/support/java-avro.ts), not by ours.
 * The expected microseconds come from PostgreSQL itself (extract(epoch …), exact numeric since PostgreSQL 14).
 * Timestamps Avro cannot hold (infinity, past int64 µs) are row errors for onRowError, naming field and row.
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { parseConfig } from '../../config/load-config.ts'
import type { RowcastConfig } from '../../config/root-schema.ts'
import { consume, createTopics, eventually, kafkaClient, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { javaAvroDecode } from '../support/java-avro.ts'

const env = await stack()
const url = env.SCHEMA_REGISTRY_URL
const skip = url === undefined && process.env.CI !== 'true' ? 'SCHEMA_REGISTRY_URL is not in .stack/env: STACK_REGISTRY=1 npm run stack:up' : false

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

/** A consumer keeping the value bytes. */
async function consumeRaw(topic: string) {
  const consumer = kafkaClient(env).consumer({ groupId: uniqueName('test') })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const values: { key: string | null; value: Buffer }[] = []
  await consumer.run({ eachMessage: async ({ message }) => void values.push({ key: message.key?.toString() ?? null, value: message.value ?? Buffer.alloc(0) }) })
  return { values, waitFor: (n: number) => eventually(() => values.length, (c) => c >= n, 60_000, `${n} messages`), stop: () => consumer.disconnect() }
}

const table = uniqueName('avro_exact')
const jsonTable = uniqueName('avro_json')
after(async () => {
  for (const name of [table, jsonTable]) {
    await sql(env, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [`rowcast_${name}`])
    await sql(env, `DROP PUBLICATION IF EXISTS rowcast_${name}`)
    await sql(env, `DROP TABLE IF EXISTS ${name}`)
  }
})

/** id -> [timestamptz, timestamp, int8] as SQL literals. */
const fits: Record<number, [string, string, string]> = {
  1: ['4714-11-24 00:00:00+00 BC', '4714-11-24 00:00:00 BC', '-9223372036854775808'], // PostgreSQL's minimum timestamp, int8 min
  2: ['9999-12-31 23:59:59.999999+00', '9999-12-31 23:59:59.999999', '9223372036854775807'], // the "valid until" sentinel, int8 max
  3: ['0001-01-01 00:00:00+00', '0001-01-01 00:00:00', '9007199254740993'], // 2^53 + 1
  4: ['1700-01-01 00:00:00.5+00', '1700-01-01 00:00:00.5', '-9007199254740993'], // where avsc's stock long flipped the sign
  5: ['2024-01-02 03:04:05.123456+00', '2024-01-02 03:04:05.123456', '42'],
  6: ['0044-03-15 12:00:00.000001+00 BC', '0044-03-15 12:00:00.000001 BC', '0'],
}
/** Rows whose timestamptz Avro's timestamp-micros (int64 µs since 1970) cannot hold. */
const unrepresentable: Record<number, string> = { 7: 'infinity', 8: '-infinity', 9: '294276-12-31 23:59:59.999999+00' }

describe('Avro longs and timestamps at the extremes, decoded by Apache Avro (Java)', { skip }, () => {
  test('every long is exact; what Avro cannot hold is a row error naming field and row', async () => {
    const topic = uniqueName('avro-exact')
    const dead = uniqueName('avro-exact-dead')
    await sql(env, `CREATE TABLE ${table} (id int4 PRIMARY KEY, at timestamptz NOT NULL, local timestamp, big int8)`)
    await createTopics(env, [topic, dead], 1)
    const config = registryConfig(`
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    onRowError: { deadLetter: { topic: ${dead} } }
    message:
      format: avro
      mapping: { id: id, at: at, local: local, big: big }
`)
    const out = await consumeRaw(topic)
    const letters = await consume(env, [dead])
    const daemon = await runDaemon(config)
    try {
      await streaming(daemon)
      for (const [id, [at, local, big]] of Object.entries(fits)) await sql(env, `INSERT INTO ${table} VALUES ($1, $2, $3, $4)`, [id, at, local, big])
      for (const [id, at] of Object.entries(unrepresentable)) await sql(env, `INSERT INTO ${table} VALUES ($1, $2, NULL, NULL)`, [id, at])
      await out.waitFor(Object.keys(fits).length)
      await letters.waitFor(Object.keys(unrepresentable).length)
    } finally {
      await daemon.stop()
      await out.stop()
      await letters.stop()
    }

    // PostgreSQL's own count of microseconds since 1970 (timestamp: as if UTC), exact.
    const expected = await sql(env, `SELECT id, (extract(epoch FROM at) * 1000000)::numeric(30,0)::text AS at, (extract(epoch FROM local) * 1000000)::numeric(30,0)::text AS local, big::text AS big FROM ${table} WHERE id <= 6 ORDER BY id`)
    const schemaId = out.values[0].value.readInt32BE(1)
    const schema = (await (await fetch(`${url}/schemas/ids/${schemaId}`)).json()) as { schema: string }
    const decoded = await javaAvroDecode(schema.schema, out.values.map((m) => m.value.subarray(5)))
    assert.deepEqual(
      decoded.map((d) => ({ id: Number(d.id), at: d.at, local: d.local, big: d.big })).sort((a, b) => a.id - b.id),
      expected.rows.map((r: { id: number; at: string; local: string; big: string }) => ({ id: r.id, at: r.at, local: r.local, big: r.big })),
    )

    const errors = letters.messages.map((m) => JSON.parse(m.value) as { key: string; code: string; error: string }).sort((a, b) => Number(a.key) - Number(b.key))
    assert.deepEqual(errors.map((e) => [e.key, e.code]), Object.keys(unrepresentable).map((id) => [id, 'ROW_SCHEMA_MISMATCH']))
    for (const e of errors) assert.match(e.error, /field "at" .*timestamp/, e.error)
  })

  test('json and jsonb fields (Avro string, logicalType json) carry PostgreSQL\'s text exactly', async () => {
    const topic = uniqueName('avro-json')
    await sql(env, `CREATE TABLE ${jsonTable} (id int4 PRIMARY KEY, b jsonb, j json)`)
    await createTopics(env, [topic], 1)
    const config = registryConfig(`
  - name: ${jsonTable}
    model: { table: public.${jsonTable} }
    topic: ${topic}
    onRowError: fail
    message:
      format: avro
      mapping: { id: id, b: b, j: j }
`)
    const out = await consumeRaw(topic)
    const daemon = await runDaemon(config)
    const doc = '{"id": 12345678901234567890, "x": 1.10, "a": {"z": 1, "z": 2}}'
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${jsonTable} VALUES (1, $1, $2), (2, '12345678901234567890', '[1.10, "}"]'), (3, NULL, 'null')`, [doc, doc])
      await out.waitFor(3)
    } finally {
      await daemon.stop()
      await out.stop()
    }
    const expected = await sql(env, `SELECT id, b::text AS b, j::text AS j FROM ${jsonTable} ORDER BY id`)
    const schemaId = out.values[0].value.readInt32BE(1)
    const schema = (await (await fetch(`${url}/schemas/ids/${schemaId}`)).json()) as { schema: string }
    const decoded = await javaAvroDecode(schema.schema, out.values.map((m) => m.value.subarray(5)))
    assert.deepEqual(decoded, expected.rows.map((r: { id: number; b: string | null; j: string }) => ({ id: String(r.id), b: String(r.b), j: r.j })))
    assert.equal(decoded[0].j, doc, 'json: the text as committed, duplicate keys and all')
  })
})
