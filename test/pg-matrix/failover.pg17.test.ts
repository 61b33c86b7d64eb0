import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { readStackEnv, type StackEnv } from '../../scripts/stack-env.ts'
import { allArrived, checkDelivery } from '../support/delivery-check.ts'
import { consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, stackCommand, startWriter, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * Failover with PostgreSQL 17+ failover slots: rowcast streams from the primary of a primary + physical standby
 * pair (scripts/stack/standby.sh: sync_replication_slots on the standby, synchronized_standby_slots on the
 * primary), the primary is SIGKILLed while a writer commits rows of several KiB, the standby is promoted, and
 * rowcast, given both hosts (target_session_attrs=read-write), goes on from the synced slot on the new
 * timeline: every change of the new primary's history arrives, none from outside it, duplicates are counted.
 */

const KEYS = 8
const PAD = 'x'.repeat(4_096)

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

describe('failover to a promoted standby (failover slots, PostgreSQL 17+)', () => {
  let env: StackEnv
  let standbyUrl: string
  before(async () => {
    env = await stack()
    await stackCommand('standby-up')
    standbyUrl = readStackEnv().PG_STANDBY_URL as string
    assert.ok(standbyUrl, '.stack/env names the standby')
  })
  after(async () => {
    // The primary first: standby-down resets its synchronized_standby_slots (else its logical walsenders wait forever).
    await stackCommand('pg-start')
    await stackCommand('standby-down')
  })

  test('primary killed under writes, standby promoted: rowcast goes on from the synced slot, 0 changes lost', { timeout: 300_000 }, async () => {
    const table = uniqueName('failover')
    const topic = uniqueName('failover')
    const slot = `rowcast_${table}`
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0, $1 FROM generate_series(1, ${KEYS}) g`, [PAD])
    await createTopics(env, [topic])
    const hosts = new URL(env.ROWCAST_PG_URL)
    const listUrl = `postgresql://${hosts.username}:${hosts.password}@127.0.0.1:${env.PG_PORT},127.0.0.1:${new URL(standbyUrl).port}${hosts.pathname}?target_session_attrs=read-write`
    const port = await freePort()
    // A slot of its own (rowcast_<sync>): the subject is the failover slot a dedicated sync creates and resumes.
    const config = writeConfig({ ...env, ROWCAST_PG_URL: listUrl }, `
  - name: ${table}
    stream: dedicated
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, n: n, pad: pad } }
`, port)
    const proc = spawnRowcast(config, port)
    let writer: ReturnType<typeof startWriter> | null = null
    const dbWrites = { beforeKill: 0, afterPromote: 0 }
    try {
      await waitState(proc, table, 'streaming')
      const created = await query(env.ROWCAST_PG_URL, 'SELECT failover FROM pg_replication_slots WHERE slot_name = $1', [slot])
      assert.equal(created.rows[0]?.failover, true, 'rowcast created its slot with failover = true')
      writer = startWriter(env, table, KEYS)
      // The standby's slot sync worker copies the slot; the copy is temporary (dropped at promotion) until the
      // primary's slot has passed what the standby can keep (its catalog xmin, its WAL): ready when persistent.
      await eventually(() => query(standbyUrl, 'SELECT synced AND NOT temporary AS ready FROM pg_replication_slots WHERE slot_name = $1', [slot]).then((r) => r.rows[0]?.ready === true, () => false), (ok) => ok, 120_000, 'the failover slot synced to the standby, persistent')
      await new Promise((r) => setTimeout(r, 3_000))

      // The primary crashes while the writer commits; the standby is promoted (timeline 2).
      await stackCommand('pg-kill')
      dbWrites.beforeKill = (await writer.stop()).commits
      writer = null
      await stackCommand('standby-promote')
      const promoted = await query(standbyUrl, 'SELECT pg_is_in_recovery() AS r, pg_walfile_name(pg_current_wal_lsn()) AS wal')
      assert.equal(promoted.rows[0].r, false)
      const timeline = Number.parseInt((promoted.rows[0].wal as string).slice(0, 8), 16)

      writer = startWriter({ ...env, ROWCAST_PG_URL: standbyUrl }, table, KEYS)
      await new Promise((r) => setTimeout(r, 4_000))
      dbWrites.afterPromote = (await writer.stop()).commits
      writer = null

      const finalRows = await query(standbyUrl, `SELECT id, n FROM ${table}`)
      const finals = new Map<number, number>(finalRows.rows.map((r: { id: number; n: number }) => [r.id, r.n]))
      const consumer = await consume(env, [topic])
      try {
        await eventually(() => consumer.messages, (m) => allArrived(m, finals), 120_000, 'every change of the new primary in Kafka').catch(() => undefined)
        const report = checkDelivery(consumer.messages, finals)
        const beyond = consumer.messages.filter((m) => {
          const { id, n } = JSON.parse(m.value) as { id: number; n: number }
          return n > (finals.get(id) ?? 0)
        }).length
        console.log(`failover (PostgreSQL ${env.PG_MAJOR}, new timeline ${timeline}): ${report.written} changes in the new primary's history (writer: ${dbWrites.beforeKill} commits acknowledged by the old primary, ${dbWrites.afterPromote} by the new one), ${report.delivered} messages, ${report.duplicates} duplicates, ${beyond} from outside the new history`)
        assert.deepEqual(report.missing, [], `every change of the new history is delivered; rowcast logs: ${proc.logs().slice(-3_000)}`)
        assert.deepEqual(report.outOfOrder, [], 'per key, first occurrences are in commit order')
        assert.equal(beyond, 0, 'no change from outside the new primary\'s history (synchronized_standby_slots kept rowcast behind the standby)')
        assert.ok(report.duplicates <= report.written, `duplicates bounded by the resend from the synced slot (${report.duplicates})`)
        assert.ok(dbWrites.afterPromote > 50, `the writer committed on the new primary (${dbWrites.afterPromote})`)
        assert.match(proc.logs(), /starting replication/)
      } finally {
        await consumer.stop()
      }
    } finally {
      await writer?.stop()
      await proc.kill('SIGKILL')
      await query(standbyUrl, 'SELECT pg_drop_replication_slot($1) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]).catch(() => undefined)
      await stackCommand('pg-start').catch(() => undefined)
      await dropSlotWhenFree(env, slot)
    }
  })
})
