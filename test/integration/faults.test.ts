import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, kafkaClient, sql, stack, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { currentLsn, slotConfirmed } from '../support/sync-helpers.ts'
import { allArrived, checkDelivery } from '../support/delivery-check.ts'
import { dropSlotWhenFree, freePort, restartPostgres, spawnRowcast, stackCommand, startWriter, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * Delivery under faults, with rowcast as a real child process: Kafka stopped and started, PostgreSQL
 * restarted, rowcast SIGKILLed. At-least-once: every committed change arrives, per key in order. And a very large
 * transaction's memory. (Faults that touch only rowcast's own processes and tables: faults-local.test.ts.)
 */

const KEYS = 8

async function finalsOf(env: StackEnv, table: string): Promise<Map<number, number>> {
  const result = await sql(env, `SELECT id, n FROM ${table}`)
  return new Map(result.rows.map((r: { id: number; n: number }) => [r.id, r.n]))
}

async function waitState(proc: RowcastProcess, sync: string, state: string, timeoutMs = 60_000): Promise<void> {
  await eventually(() => proc.states(), (s) => s?.[sync] === state, timeoutMs, `sync ${sync} ${state}`).catch((error: Error) => {
    throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
  })
}

/** The positions rowcast logged "starting replication" (a dedicated stream's) or its stream group's from, in order. */
function replicationStarts(proc: RowcastProcess): bigint[] {
  return proc.notable().filter((l) => l.msg === 'starting replication' || l.msg === 'starting the stream group\'s replication').map((l) => {
    const [hi, lo] = (l.from as string).split('/')
    return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)
  })
}

describe('delivery under faults (rowcast as a child process)', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('Kafka stop/start, PostgreSQL restart and 3 SIGKILLs: every committed change arrives, per key in order', { timeout: 240_000 }, async () => {
    const table = uniqueName('faults')
    const topic = uniqueName('faults')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, ${KEYS}) g`)
    await createTopics(env, [topic])
    const port = await freePort()
    const config = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, n: n } }
`, port)
    let proc = spawnRowcast(config, port)
    let writer: ReturnType<typeof startWriter> | null = null
    const figures = { restarts: 0, kafkaDegradedSeen: false, pgResumedFrom: '', fastShutdown: false }
    try {
      await waitState(proc, table, 'streaming')
      writer = startWriter(env, table, KEYS)
      await new Promise((r) => setTimeout(r, 2_000))

      // (1) Kafka outage: the sync reports degraded, then streams again.
      try {
        await stackCommand('kafka-stop')
        const outageEnd = Date.now() + 5_000
        while (Date.now() < outageEnd || !figures.kafkaDegradedSeen) {
          if ((await proc.states())?.[table] === 'degraded') figures.kafkaDegradedSeen = true
          if (Date.now() > outageEnd + 30_000) break
          await new Promise((r) => setTimeout(r, 250))
        }
      } finally {
        await stackCommand('kafka-start')
      }
      assert.ok(figures.kafkaDegradedSeen, `the sync never reported degraded while Kafka was down: ${proc.logs().slice(-2_000)}`)
      await waitState(proc, table, 'streaming', 90_000)

      // (2) PostgreSQL restart: rowcast reconnects and resumes from the slot's confirmed position (the sync shares
      // the file's stream group, the default: the group's slot).
      const slot = TEST_GROUP
      const confirmedBefore = await slotConfirmed(env, slot)
      const startsBefore = replicationStarts(proc).length
      const fastShutdown = await restartPostgres(2_000)
      await eventually(() => replicationStarts(proc), (s) => s.length > startsBefore, 60_000, 'replication restarted')
      const resumedFrom = replicationStarts(proc).at(-1) as bigint
      // PostgreSQL 15 does not write a logical slot's confirmed_flush_lsn at a shutdown checkpoint when only
      // it moved (fixed in 17), so after a restart the slot may report an earlier position: rowcast resumes
      // from whatever the slot says, never from further than it confirmed. Changes since are re-sent.
      const walNow = await currentLsn(env)
      assert.ok(resumedFrom > 0n && resumedFrom <= walNow, `resumed from ${resumedFrom}: the slot's position (before the restart it had confirmed ${confirmedBefore}; WAL now ends at ${walNow})`)
      figures.pgResumedFrom = `${resumedFrom.toString(16)} (confirmed before: ${confirmedBefore.toString(16)})`
      figures.fastShutdown = fastShutdown
      await waitState(proc, table, 'streaming')
      await eventually(() => slotConfirmed(env, slot), (lsn) => lsn > resumedFrom, 30_000, 'slot advancing after the PostgreSQL restart')

      // (3) SIGKILL rowcast three times while the writer commits.
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 1_500))
        await proc.kill('SIGKILL')
        figures.restarts++
        await new Promise((r) => setTimeout(r, 500))
        proc = spawnRowcast(config, port)
        await waitState(proc, table, 'streaming')
      }
      await new Promise((r) => setTimeout(r, 1_500))
      const written = await writer.stop()
      writer = null

      const finals = await finalsOf(env, table)
      const consumer = await consume(env, [topic])
      try {
        await eventually(() => consumer.messages, (m) => allArrived(m, finals), 60_000, 'every committed change in Kafka').catch(() => undefined)
        const report = checkDelivery(consumer.messages, finals)
        console.log(`faults: ${report.written} changes committed (${written.commits} acknowledged to the writer, ${written.errors} writer errors), ${report.delivered} messages delivered, ${report.duplicates} duplicates, restarts survived: Kafka 1, PostgreSQL 1, SIGKILL ${figures.restarts}; degraded seen during the Kafka outage: ${figures.kafkaDegradedSeen}; PostgreSQL fast shutdown completed: ${figures.fastShutdown}, resumed from ${figures.pgResumedFrom}`)
        assert.deepEqual(report.missing, [], 'every committed change is delivered')
        assert.deepEqual(report.outOfOrder, [], 'per key, first occurrences are in commit order')
        assert.ok(report.written > 100, `the writer committed enough changes (${report.written})`)
      } finally {
        await consumer.stop()
      }
    } finally {
      await writer?.stop()
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, TEST_GROUP)
    }
  })

  test('a very large transaction (INSERT … SELECT generate_series) goes through with bounded memory', { timeout: 240_000 }, async () => {
    const rows = Number(process.env.ROWCAST_BIG_TX_ROWS ?? 1_000_000)
    const table = uniqueName('bigtx')
    const topic = uniqueName('bigtx')
    await sql(env, `CREATE TABLE ${table} (id int8 PRIMARY KEY, label text NOT NULL)`)
    await createTopics(env, [topic])
    const port = await freePort()
    const proc = spawnRowcast(writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, label: label } }
`, port), port)
    try {
      await eventually(() => proc.states(), (s) => s?.[table] === 'streaming', 60_000, 'streaming')
      const idleRssKb = proc.peakRssKb()
      const started = Date.now()
      await sql(env, `INSERT INTO ${table} SELECT g, 'row number ' || g FROM generate_series(1, ${rows}) g`)
      const committedMs = Date.now() - started
      const afterCommit = await currentLsn(env)
      const admin = kafkaClient(env).admin()
      await admin.connect()
      let peakRssKb = 0
      try {
        await eventually(
          async () => {
            peakRssKb = Math.max(peakRssKb, proc.peakRssKb())
            const offsets = await admin.fetchTopicOffsets(topic)
            return offsets.reduce((n, o) => n + Number(o.high), 0)
          },
          (count) => count >= rows,
          200_000,
          `${rows} messages in the topic`,
        )
      } finally {
        await admin.disconnect()
      }
      const seconds = (Date.now() - started) / 1000
      peakRssKb = Math.max(peakRssKb, proc.peakRssKb())
      console.log(`big transaction: ${rows} rows in one transaction (commit took ${committedMs} ms) delivered in ${seconds.toFixed(1)} s (${Math.round(rows / seconds)} rows/s); rowcast peak RSS ${Math.round(peakRssKb / 1024)} MiB (${Math.round(idleRssKb / 1024)} MiB before)`)
      assert.ok(peakRssKb < 512 * 1024, `peak RSS ${peakRssKb} kB stays bounded`)
      await eventually(() => slotConfirmed(env, TEST_GROUP), (lsn) => lsn >= afterCommit, 20_000, 'the group\'s slot confirmed past the transaction')
    } finally {
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, TEST_GROUP)
    }
  })

})
