import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { StackEnv } from '../../scripts/stack-env.ts'
import type { RowcastConfig } from '../../config/root-schema.ts'
import type { Daemon } from '../../daemon/daemon.ts'
import type { TelemetryEvents } from '../../core/telemetry.ts'
import { configFor, configYaml, consume, createTopics, eventually, kafkaClient, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { restartPostgres } from '../support/rowcast-process.ts'
import { parseConfig } from '../../config/load-config.ts'
import { repoRoot } from '../../scripts/stack-env.ts'
import { sleep } from '../support/sync-helpers.ts'

/**
 * Issue 15, items 3–6: every state of a sync that needs a person sends one alert after its threshold and one
 * recovery notice, on the real stack, with alerts captured by a webhook receiver on loopback.
 */

interface Notice {
  action: 'trigger' | 'resolve'
  kind: string
  sync: string
  summary: string
}

async function startHook(): Promise<{ url: string; notices: Notice[]; server: Server }> {
  const notices: Notice[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      notices.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Notice)
      res.writeHead(200).end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, notices, server }
}

/** `trigger kind` / `resolve kind` of one sync's notices, in order. */
function actions(notices: readonly Notice[], sync: string): string[] {
  return notices.filter((n) => n.sync === sync).map((n) => `${n.action} ${n.kind}`)
}

function count(notices: readonly Notice[], sync: string, what: string): number {
  return actions(notices, sync).filter((a) => a === what).length
}

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

function syncYaml(table: string, extra = ''): string {
  return `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: { column: payload }
${extra}`
}

/** scripts/registry.sh's registry (its default port), started and stopped by the registry test. */
const REGISTRY_URL = 'http://127.0.0.1:18081/apis/ccompat/v7'
const registry = (command: 'up' | 'down') => promisify(execFile)('bash', [join(repoRoot, 'scripts/registry.sh'), command], { cwd: repoRoot, timeout: 180_000 })

/** kafkajs ConfigResourceTypes.TOPIC. */
const TOPIC_RESOURCE = 2

/** Rows of ~4 KiB that PostgreSQL cannot compress: the WAL grows by what is written. */
const payload = () => JSON.stringify({ pad: randomBytes(2000).toString('hex') })

describe('alerts for states that need a person (real stack, webhook on loopback)', () => {
  let env: StackEnv
  let hook: Awaited<ReturnType<typeof startHook>>
  before(async () => {
    env = await stack()
    hook = await startHook()
  })
  after(() => hook.server.close())

  const alertsYaml = (thresholds: string) => `
http: { port: 0 }
alerts: [{ type: webhook, url: "${hook.url}" }]
alertThresholds: { ${thresholds} }`

  test('a sync held by a missing topic while the WAL grows: lag and retained-WAL gauges grow, lag, slot-wal and topic-missing alerts fire once and resolve once', { timeout: 180_000 }, async () => {
    const table = uniqueName('stuck')
    const slot = TEST_GROUP // the sync shares the file's stream group (the default): the group's slot holds the WAL
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
    const config = withSlotChecks(configFor(env, syncYaml(table), alertsYaml('replicationLagBytes: 262144, topicMissingMs: 3000, slotRetainedWalBytes: 1048576')))
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

  test('a permanent row error under fail: one trigger and no resolve across retries; once the cause is fixed, one resolve', { timeout: 120_000 }, async () => {
    const table = uniqueName('rowfail')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
    await createTopics(env, [table], 1, { 'max.message.bytes': '2000' }) // too small for a 4 KiB row
    const daemon = await runDaemon(configFor(env, syncYaml(table), alertsYaml('rejectedRows: 1')), { failedRetryMs: 1000 })
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

  test('PostgreSQL unreachable past its threshold: one postgres-unreachable alert, one recovery notice', { timeout: 180_000 }, async () => {
    const table = uniqueName('pgdown')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
    await createTopics(env, [table], 1)
    const daemon = await runDaemon(withSlotChecks(configFor(env, syncYaml(table), alertsYaml('postgresUnreachableMs: 3000'))))
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

  test('a slot dropped under the running sync: one slot-lost alert, not a new one per retry', { timeout: 120_000 }, async () => {
    const table = uniqueName('slotlost')
    const slot = `rowcast_${table}`
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`)
    await createTopics(env, [table], 1)
    // A slot of its own (rowcast_<sync>) dropped: the subject of slot-identity.test.ts, here for its alert.
    const daemon = await runDaemon(configFor(env, syncYaml(table, '    stream: dedicated'), alertsYaml('')), { failedRetryMs: 1000 })
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
