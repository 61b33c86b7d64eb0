import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import type { TelemetryEvents } from '../../core/telemetry.ts'
import { payloadSyncYaml } from '../support/alert-hook.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'

/** onRowError: fail (default), deadLetter and skip, for rows that cannot render and messages Kafka cannot take. */
describe('row errors', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  /** A table whose `payload` text column is the message; `part` may name a partition. */
  async function setup(partitions = 3): Promise<string> {
    const table = uniqueName('rowerr')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text, part int)`)
    await createTopics(env, [table], partitions)
    return table
  }

  /**
   * Ids of the inserts the (released) slot of the sync would send again: what is not confirmed. The sync shares the
   * file's stream group (the default): the group's slot and publication, the inserts of its table only.
   */
  async function unconfirmedInserts(table: string): Promise<string[]> {
    const slot = TEST_GROUP
    await eventually(() => sql(env, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]), (r) => r.rows[0]?.active === false, 10_000, 'slot released')
    const peeked = await sql(env, `SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2) WHERE substr(data, 1, 1) = 'I'::bytea AND substr(data, 2, 4) = int4send($3::regclass::oid::int)`, [slot, slot, `public.${table}`])
    // pgoutput Insert: 'I', relation oid (4), 'N', column count (2), then 't', length (4), text of the first column (id).
    return peeked.rows.map(({ data }: { data: Buffer }) => data.subarray(13, 13 + data.readInt32BE(9)).toString())
  }

  function syncYaml(table: string, onRowError: string, extra = ''): string {
    return payloadSyncYaml(table, `    onRowError: ${onRowError}\n${extra}`)
  }

  test('fail (the default) stops the sync before confirming the bad row; switching to skip and restarting loses nothing', async () => {
    const table = await setup()
    const failing = configFor(env, syncYaml(table, 'fail'))
    const consumer = await consume(env, [table])
    let daemon = await runDaemon(failing)
    const states: TelemetryEvents['state'][] = []
    daemon.telemetry.on('state', (s) => states.push(s))
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, '{"ok": 1}')`)
      await consumer.waitFor(1)
      await sql(env, `INSERT INTO ${table} VALUES (2, 'this is not JSON')`)
      await sql(env, `INSERT INTO ${table} VALUES (3, '{"ok": 3}')`)
      const failed = await eventually(() => states.find((s) => s.state === 'failed'), (s) => s !== undefined, 20_000, 'sync failed')
      assert.match(failed?.reason ?? '', new RegExp(`sync "${table}": row 2 of public\\.${table}`))
      assert.match(failed?.reason ?? '', /JSON/)
      await new Promise((r) => setTimeout(r, 2_000)) // it keeps failing on retry; nothing after it is delivered
      assert.equal(daemon.syncs[0].state, 'failed')
      assert.deepEqual(consumer.messages.map((m) => m.key), ['1'])
    } finally {
      await daemon.stop()
    }
    assert.deepEqual(await unconfirmedInserts(table), ['2', '3'], 'the slot is not confirmed past the failed transaction')

    // The operator switches the policy to skip: the failed change is read again from the slot and skipped.
    const rejected: TelemetryEvents['rejected'][] = []
    daemon = await runDaemon(configFor(env, syncYaml(table, 'skip')))
    daemon.telemetry.on('rejected', (e) => rejected.push(e))
    try {
      await consumer.waitFor(2)
      await eventually(() => rejected.length, (n) => n === 1, 10_000, 'one rejected row')
      assert.deepEqual(consumer.messages.map((m) => [m.key, m.value]), [['1', '{"ok": 1}'], ['3', '{"ok": 3}']])
      assert.equal(rejected[0].reason, 'render')
      assert.equal(daemon.syncs[0].state, 'streaming')
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('deadLetter sends the original row, the error and the sync name to the dead-letter topic, and the sync goes on', async () => {
    const table = await setup()
    const dlq = `${table}_dlq`
    await createTopics(env, [dlq], 1)
    // maxMessageBytes: a message over it and a partition out of range go through the same policy.
    const config = configFor(env, syncYaml(table, `{ deadLetter: { topic: ${dlq} } }`, '    partition: part'), 'limits: { maxMessageBytes: 300 }')
    const consumer = await consume(env, [table, dlq])
    const daemon = await runDaemon(config)
    const deadLettered: TelemetryEvents['deadLettered'][] = []
    daemon.telemetry.on('deadLettered', (e) => deadLettered.push(e))
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, '{"ok": 1}', NULL)`)
      await sql(env, `INSERT INTO ${table} VALUES (2, 'not JSON at all', NULL)`)
      await sql(env, `INSERT INTO ${table} VALUES (3, '{"ok": 3}', 99)`)
      await sql(env, `INSERT INTO ${table} VALUES (4, $1, NULL)`, [JSON.stringify({ big: 'x'.repeat(400) })])
      await sql(env, `INSERT INTO ${table} VALUES (5, '{"ok": 5}', 2)`)
      await consumer.waitFor(5)
      await new Promise((r) => setTimeout(r, 500))
      const delivered = consumer.messages.filter((m) => m.topic === table)
      assert.deepEqual(delivered.map((m) => [m.key, m.value]), [['1', '{"ok": 1}'], ['5', '{"ok": 5}']])
      assert.equal(delivered[1].partition, 2)
      const dead = consumer.messages.filter((m) => m.topic === dlq).map((m) => ({ ...JSON.parse(m.value), headers: m.headers }))
      assert.deepEqual(dead.map((d) => [d.key, d.reason]), [['2', 'render'], ['3', 'partition'], ['4', 'too-large']])
      for (const d of dead) {
        assert.equal(d.sync, table)
        assert.equal(d.table, `public.${table}`)
        assert.equal(d.headers['rowcast-sync'], table)
        assert.ok(typeof d.error === 'string' && d.error.length > 0)
      }
      assert.equal(dead[0].row.payload, 'not JSON at all', 'the original row')
      assert.match(dead[0].error, /JSON/)
      assert.match(dead[1].error, /partition 99 does not exist/)
      assert.match(dead[2].error, /over the limit of 300 bytes/)
      assert.equal(dead[2].row.payload.length, JSON.stringify({ big: 'x'.repeat(400) }).length)
      assert.equal(deadLettered.length, 3)
      assert.equal(daemon.syncs[0].state, 'streaming')
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('skip drops and counts every kind of row error, and the sync goes on', async () => {
    const table = await setup()
    const config = configFor(env, syncYaml(table, 'skip', '    partition: part'), 'limits: { maxMessageBytes: 300 }')
    const consumer = await consume(env, [table])
    const daemon = await runDaemon(config)
    const rejected: TelemetryEvents['rejected'][] = []
    daemon.telemetry.on('rejected', (e) => rejected.push(e))
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'nope', NULL), (2, '{"ok": 2}', 7), (3, $1, NULL), (4, '{"ok": 4}', NULL)`, [JSON.stringify({ big: 'y'.repeat(400) })])
      await consumer.waitFor(1)
      await eventually(() => rejected.length, (n) => n === 3, 10_000, 'three rejected rows')
      await new Promise((r) => setTimeout(r, 500))
      assert.deepEqual(consumer.messages.map((m) => m.key), ['4'])
      assert.deepEqual(rejected.map((r) => r.reason).sort(), ['partition', 'render', 'too-large'])
      assert.equal(daemon.syncs[0].state, 'streaming')
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('fail applies to messages Kafka cannot take too: a partition out of range stops the sync', async () => {
    const table = await setup(1)
    const consumer = await consume(env, [table])
    const daemon = await runDaemon(configFor(env, syncYaml(table, 'fail', '    partition: part')))
    const states: TelemetryEvents['state'][] = []
    daemon.telemetry.on('state', (s) => states.push(s))
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, '{"ok": 1}', 0)`)
      await consumer.waitFor(1)
      await sql(env, `INSERT INTO ${table} VALUES (2, '{"ok": 2}', 5)`)
      const failed = await eventually(() => states.find((s) => s.state === 'failed'), (s) => s !== undefined, 20_000, 'sync failed')
      assert.match(failed?.reason ?? '', new RegExp(`sync "${table}": row 2 .*partition 5 does not exist`))
      assert.equal(consumer.messages.length, 1)
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
    assert.deepEqual(await unconfirmedInserts(table), ['2'], 'the slot is not confirmed past the failed transaction')
  })
})
