import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import type { TelemetryEvents } from '../../core/telemetry.ts'
import { configFor, consume, createTopics, eventually, kafkaClient, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { sleep } from '../support/sync-helpers.ts'
import { actions, count, payload, payloadSyncYaml, startHook, webhookAlertsYaml } from '../support/alert-hook.ts'

/**
 * Issue 15, items 3–6, continued (alerts-stuck-sync.test.ts has the states that take the stack down): a permanent
 * row error and a dropped slot send one alert, not one per retry. They disturb no other test's tables, topics or
 * slots, so they run beside the others.
 */

/** kafkajs ConfigResourceTypes.TOPIC. */
const TOPIC_RESOURCE = 2


describe('alerts for a row error and a dropped slot (real stack, webhook on loopback)', () => {
  let env: StackEnv
  let hook: Awaited<ReturnType<typeof startHook>>
  before(async () => {
    env = await stack()
    hook = await startHook()
  })
  after(() => hook.server.close())

  const alertsYaml = (thresholds: string) => webhookAlertsYaml(hook.url, thresholds)

  test('a permanent row error under fail: one trigger and no resolve across retries; once the cause is fixed, one resolve', { timeout: 120_000 }, async () => {
    const table = uniqueName('rowfail')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
    await createTopics(env, [table], 1, { 'max.message.bytes': '2000' }) // too small for a 4 KiB row
    const daemon = await runDaemon(configFor(env, payloadSyncYaml(table), alertsYaml('rejectedRows: 1')), { failedRetryMs: 1000 })
    const states: TelemetryEvents['state'][] = []
    daemon.telemetry.on('state', (s) => states.push(s))
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, '{"ok": 1}')`)
      await consumer.waitFor(1)
      await sql(env, `INSERT INTO ${table} VALUES (2, '{"ok": 2}'), (3, $1)`, [payload()]) // row 3 is over the topic's max.message.bytes
      await eventually(() => actions(hook.notices, table), (a) => a.includes('trigger fatal'), 20_000, 'the fatal alert')
      await eventually(() => states.filter((s) => s.state === 'failed').length, (n) => n >= 4, 30_000, 'retries') // > 2 retry periods
      await sleep(1500)
      assert.equal(count(hook.notices, table, 'trigger fatal'), 1, actions(hook.notices, table).join(', '))
      assert.equal(count(hook.notices, table, 'resolve fatal'), 0, actions(hook.notices, table).join(', '))

      // The cause is fixed: the topic takes larger messages. The next retry delivers past the failing row: one resolve.
      const admin = kafkaClient(env).admin()
      await admin.connect()
      await admin.alterConfigs({ validateOnly: false, resources: [{ type: TOPIC_RESOURCE, name: table, configEntries: [{ name: 'max.message.bytes', value: '1048588' }] }] })
      await admin.disconnect()
      await consumer.waitFor(3, 60_000)
      await eventually(() => actions(hook.notices, table), (a) => a.includes('resolve fatal'), 30_000, 'the resolve')
      await sleep(2000)
      assert.equal(count(hook.notices, table, 'trigger fatal'), 1, actions(hook.notices, table).join(', '))
      assert.equal(count(hook.notices, table, 'resolve fatal'), 1, actions(hook.notices, table).join(', '))
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('a slot dropped under the running sync: one slot-lost alert, not a new one per retry', { timeout: 120_000 }, async () => {
    const table = uniqueName('slotlost')
    const slot = `rowcast_${table}`
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
    await createTopics(env, [table], 1)
    // A slot of its own (rowcast_<sync>) dropped: the subject of slot-identity.test.ts, here for its alert.
    const daemon = await runDaemon(configFor(env, payloadSyncYaml(table, '    stream: dedicated'), alertsYaml('')), { failedRetryMs: 1000 })
    const states: TelemetryEvents['state'][] = []
    daemon.telemetry.on('state', (s) => states.push(s))
    try {
      await streaming(daemon)
      await eventually(async () => {
        await sql(env, 'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot])
        await sql(env, 'SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined)
        return (await sql(env, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).rowCount
      }, (n) => n === 0, 20_000, 'the slot dropped')
      await eventually(() => actions(hook.notices, table), (a) => a.includes('trigger slot-lost'), 30_000, 'the slot-lost alert')
      await eventually(() => states.filter((s) => s.state === 'failed').length, (n) => n >= 3, 30_000, 'retries')
      assert.deepEqual(actions(hook.notices, table), ['trigger slot-lost'])
    } finally {
      await daemon.stop()
    }
  })
})
