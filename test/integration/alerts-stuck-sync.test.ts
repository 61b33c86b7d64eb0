import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { StackEnv } from '../../scripts/stack-env.ts'
import type { RowcastConfig } from '../../config/root-schema.ts'
import type { Daemon } from '../../daemon/daemon.ts'
import { configFor, configYaml, consume, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { restartPostgres } from '../support/rowcast-process.ts'
import { parseConfig } from '../../config/load-config.ts'
import { repoRoot } from '../../scripts/stack-env.ts'
import { sleep } from '../support/sync-helpers.ts'
import { actions, count, payload, payloadSyncYaml, startHook, webhookAlertsYaml } from '../support/alert-hook.ts'

/**
 * Issue 15, items 3–6: every state of a sync that needs a person sends one alert after its threshold and one
 * recovery notice, on the real stack, with alerts captured by a webhook receiver on loopback. Here the states that
 * take the stack (PostgreSQL, the registry) down or depend on the server's WAL position; a row error and a dropped
 * slot, which disturb no other test, are in alerts-sync-errors.test.ts (run beside the others).
 */

/** The value of one series on /metrics (undefined when absent). */
async function metric(daemon: Daemon, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${daemon.url}/metrics`)).text()
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const labelText = line.slice(name.length + 1, line.indexOf('}'))
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return undefined
}

async function serverLag(env: StackEnv, slot: string): Promise<number> {
  const r = await sql(env, 'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint AS lag FROM pg_replication_slots WHERE slot_name = $1', [slot])
  return Number(r.rows[0]?.lag ?? 0)
}

/** Probes the slot every second, so the tests see a stuck sync within seconds. */
function withSlotChecks(config: RowcastConfig): RowcastConfig {
  return { ...config, source: { postgres: { ...config.source.postgres, slotCheckIntervalMs: 1000 } } }
}

/** scripts/registry.sh's registry (its default port), started and stopped by the registry test. */
const REGISTRY_URL = 'http://127.0.0.1:18081/apis/ccompat/v7'
const registry = (command: 'up' | 'down') => promisify(execFile)('bash', [join(repoRoot, 'scripts/registry.sh'), command], { cwd: repoRoot, timeout: 180_000 })


describe('alerts for states that need a person (real stack, webhook on loopback)', () => {
  let env: StackEnv
  let hook: Awaited<ReturnType<typeof startHook>>
  before(async () => {
    env = await stack()
    hook = await startHook()
  })
  after(() => hook.server.close())

  const alertsYaml = (thresholds: string) => webhookAlertsYaml(hook.url, thresholds)

  test('a sync held by a missing topic while the WAL grows: lag and retained-WAL gauges grow, lag, slot-wal and topic-missing alerts fire once and resolve once', { timeout: 180_000 }, async () => {
    const table = uniqueName('stuck')
    const slot = TEST_GROUP // the sync shares the file's stream group (the default): the group's slot holds the WAL
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
    const config = withSlotChecks(configFor(env, payloadSyncYaml(table), alertsYaml('replicationLagBytes: 262144, topicMissingMs: 3000, slotRetainedWalBytes: 1048576')))
    const daemon = await runDaemon(config)
    await streaming(daemon) // the slot exists: every row written from here on is in the stream
    let writing = true
    let written = 0
    const writer = (async () => {
      while (writing) {
        const values = Array.from({ length: 10 }, (_, i) => `(${written + i + 1}, $1)`).join(',')
        await sql(env, `INSERT INTO ${table} VALUES ${values}`, [payload()])
        written += 10
        await sleep(100)
      }
    })()
    try {
      // The gauge follows the server's view while nothing is confirmed, and the lag alert fires.
      await eventually(() => serverLag(env, slot), (lag) => lag > 2 * 262_144, 60_000, 'PostgreSQL to see the slot lag')
      await sleep(2500) // two slot checks
      const first = await metric(daemon, 'rowcast_replication_lag_bytes', { sync: table })
      assert.ok(first !== undefined && first > 262_144, `rowcast_replication_lag_bytes ${first} while PostgreSQL says ${await serverLag(env, slot)}`)
      await eventually(() => metric(daemon, 'rowcast_replication_lag_bytes', { sync: table }), (v) => v !== undefined && v > first + 100_000, 20_000, 'the lag gauge to grow')
      await eventually(() => actions(hook.notices, table), (a) => a.includes('trigger lag') && a.includes('trigger slot-wal'), 30_000, 'lag and slot-wal alerts')
      await eventually(() => actions(hook.notices, table), (a) => a.includes('trigger topic-missing'), 30_000, 'topic-missing alert')
      const retained = await metric(daemon, 'rowcast_slot_retained_wal_bytes', { sync: table, slot })
      assert.ok(retained !== undefined && retained > 1_048_576, `rowcast_slot_retained_wal_bytes ${retained}`)
      assert.equal(await metric(daemon, 'rowcast_slot_wal_status', { sync: table, slot, status: 'reserved' }), 1)
      for (const name of ['rowcast_slot_spill_txns_total', 'rowcast_slot_spill_bytes_total', 'rowcast_slot_stream_txns_total', 'rowcast_slot_stream_bytes_total', 'rowcast_slot_txns_total']) {
        assert.notEqual(await metric(daemon, name, { sync: table, slot }), undefined, `${name} on /metrics`)
      }
      assert.ok(((await metric(daemon, 'rowcast_slot_txns_total', { sync: table, slot })) ?? 0) > 0, 'rowcast_slot_txns_total counts the decoded transactions')
      const since = await metric(daemon, 'rowcast_seconds_since_last_delivery', { sync: table })
      assert.ok(since !== undefined && since >= 1, `rowcast_seconds_since_last_delivery ${since}`)

      // The topic appears: everything is delivered, and each alert resolves exactly once.
      writing = false
      await writer
      await createTopics(env, [table], 3)
      const consumer = await consume(env, [table])
      try {
        await eventually(() => new Set(consumer.messages.map((m) => m.key)).size, (n) => n === written, 90_000, `all ${written} rows delivered`)
        await eventually(() => actions(hook.notices, table), (a) => ['resolve topic-missing', 'resolve lag', 'resolve slot-wal'].every((x) => a.includes(x)), 60_000, 'the resolves')
        await sleep(3000)
        for (const kind of ['topic-missing', 'lag', 'slot-wal']) {
          assert.equal(count(hook.notices, table, `trigger ${kind}`), 1, `one trigger of ${kind}: ${actions(hook.notices, table).join(', ')}`)
          assert.equal(count(hook.notices, table, `resolve ${kind}`), 1, `one resolve of ${kind}: ${actions(hook.notices, table).join(', ')}`)
        }
        assert.ok(((await metric(daemon, 'rowcast_seconds_since_last_delivery', { sync: table })) ?? 99) < 30)
      } finally {
        await consumer.stop()
      }
    } finally {
      writing = false
      await writer
      await daemon.stop()
    }
  })

  test('PostgreSQL unreachable past its threshold: one postgres-unreachable alert, one recovery notice', { timeout: 180_000 }, async () => {
    const table = uniqueName('pgdown')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
    await createTopics(env, [table], 1)
    const daemon = await runDaemon(withSlotChecks(configFor(env, payloadSyncYaml(table), alertsYaml('postgresUnreachableMs: 3000'))))
    try {
      await streaming(daemon)
      await restartPostgres(12_000)
      await eventually(() => actions(hook.notices, table), (a) => a.includes('trigger postgres-unreachable'), 30_000, 'the postgres-unreachable alert')
      await streaming(daemon, 60_000)
      await sql(env, `INSERT INTO ${table} VALUES (1, '{"ok": 1}')`)
      await eventually(() => actions(hook.notices, table), (a) => a.includes('resolve postgres-unreachable'), 30_000, 'the recovery notice')
      await sleep(2000)
      assert.equal(count(hook.notices, table, 'trigger postgres-unreachable'), 1, actions(hook.notices, table).join(', '))
      assert.equal(count(hook.notices, table, 'resolve postgres-unreachable'), 1, actions(hook.notices, table).join(', '))
    } finally {
      await daemon.stop()
    }
  })

  test('the schema registry down past its threshold: one registry-unreachable alert; once it is up, one recovery notice', { timeout: 240_000 }, async () => {
    const table = uniqueName('regdown')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
    await createTopics(env, [table], 1)
    await registry('down') // the stack's registry (Apicurio, scripts/registry.sh) is not running: connections are refused
    const yaml = configYaml(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: { format: avro, mapping: { id: id, payload: payload } }
`, { destination: `  schemaRegistry: { url: "${REGISTRY_URL}" }`, root: alertsYaml('registryUnreachableMs: 3000') })
    const daemon = await runDaemon(parseConfig(yaml, process.cwd()))
    try {
      await eventually(() => actions(hook.notices, table), (a) => a.includes('trigger registry-unreachable'), 60_000, 'the registry-unreachable alert')
      await registry('up')
      await streaming(daemon, 90_000)
      await eventually(() => actions(hook.notices, table), (a) => a.includes('resolve registry-unreachable'), 30_000, 'the recovery notice')
      await sleep(2000)
      assert.deepEqual(actions(hook.notices, table), ['trigger registry-unreachable', 'resolve registry-unreachable'])
    } finally {
      await daemon.stop()
      await registry('down')
    }
  })
})
