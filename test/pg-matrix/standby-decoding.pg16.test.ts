import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { readStackEnv, type StackEnv } from '../../scripts/stack-env.ts'
import { allArrived, checkDelivery } from '../support/delivery-check.ts'
import { consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { freePort, spawnRowcast, stackCommand, startWriter, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * Decoding on a standby (PostgreSQL 16+): source.postgres.url names the stack's physical standby, primaryUrl the
 * primary (state, publication, lock and heartbeats). The primary is idle while rowcast creates its slot on the
 * standby (creation waits for a running-transactions record from the primary: rowcast nudges it); then a writer
 * commits rows of several KiB on the primary and every change arrives through the standby.
 */

const KEYS = 8
const PAD = 'y'.repeat(4_096)

async function query(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await client.query(text, params)
  } finally {
    await client.end()
  }
}

async function waitState(proc: RowcastProcess, sync: string, state: string, timeoutMs = 90_000): Promise<void> {
  await eventually(() => proc.states(), (s) => s?.[sync] === state, timeoutMs, `sync ${sync} ${state}`).catch((error: Error) => {
    throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-4_000)}`)
  })
}

describe('decoding on a standby (PostgreSQL 16+)', () => {
  let env: StackEnv
  let standbyUrl: string
  before(async () => {
    env = await stack()
    await stackCommand('standby-up')
    standbyUrl = readStackEnv().PG_STANDBY_URL as string
    assert.ok(standbyUrl, '.stack/env names the standby')
  })
  after(async () => {
    await stackCommand('standby-down')
  })

  test('slot on the standby, created while the primary is idle; every change committed on the primary arrives', { timeout: 240_000 }, async () => {
    const table = uniqueName('onstandby')
    const topic = uniqueName('onstandby')
    const slot = `rowcast_${table}`
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0, $1 FROM generate_series(1, ${KEYS}) g`, [PAD])
    await createTopics(env, [topic])
    // The table must have reached the standby before rowcast reads its catalog there.
    await eventually(() => query(standbyUrl, `SELECT count(*)::int AS c FROM ${table}`).then((r) => r.rows[0].c as number, () => 0), (c) => c === KEYS, 30_000, 'the table on the standby')
    const port = await freePort()
    const config = writeConfig({ ...env, ROWCAST_PG_URL: standbyUrl }, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, n: n, pad: pad } }
`, port)
    // The primary next to the standby URL; heartbeats every 10 s (not the tests' 1 s), so the primary stays idle while the slot is made.
    writeFileSync(config, readFileSync(config, 'utf8').replace(/(\n {4}url: [^\n]*\n)/, `$1    primaryUrl: ${env.ROWCAST_PG_URL}\n`).replace('heartbeatIntervalMs: 1000', 'heartbeatIntervalMs: 10000'))
    assert.match(readFileSync(config, 'utf8'), /primaryUrl: /)
    const proc = spawnRowcast(config, port)
    let writer: ReturnType<typeof startWriter> | null = null
    try {
      // Nothing writes on the primary meanwhile (heartbeats start once streaming): the creation must not hang.
      await waitState(proc, table, 'streaming', 120_000)
      const onStandby = await query(standbyUrl, 'SELECT slot_type FROM pg_replication_slots WHERE slot_name = $1', [slot])
      assert.equal(onStandby.rows[0]?.slot_type, 'logical', 'the slot lives on the standby')
      const onPrimary = await sql(env, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])
      assert.equal(onPrimary.rowCount, 0, 'and not on the primary')

      writer = startWriter(env, table, KEYS)
      await new Promise((r) => setTimeout(r, 4_000))
      const written = await writer.stop()
      writer = null
      const finalRows = await sql(env, `SELECT id, n FROM ${table}`)
      const finals = new Map<number, number>(finalRows.rows.map((r: { id: number; n: number }) => [r.id, r.n]))
      const consumer = await consume(env, [topic])
      try {
        await eventually(() => consumer.messages, (m) => allArrived(m, finals), 90_000, 'every change in Kafka').catch(() => undefined)
        const report = checkDelivery(consumer.messages, finals)
        console.log(`standby decoding (PostgreSQL ${env.PG_MAJOR}): ${report.written} changes committed on the primary (${written.commits} by the writer), ${report.delivered} messages through the standby, ${report.duplicates} duplicates`)
        assert.deepEqual(report.missing, [], `every committed change is delivered; rowcast logs: ${proc.logs().slice(-3_000)}`)
        assert.deepEqual(report.outOfOrder, [])
        assert.ok(report.written > 50, `the writer committed enough (${report.written})`)
      } finally {
        await consumer.stop()
      }
    } finally {
      await writer?.stop()
      await proc.kill('SIGKILL')
      await query(standbyUrl, 'SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1', [slot]).catch(() => undefined)
    }
  })
})
