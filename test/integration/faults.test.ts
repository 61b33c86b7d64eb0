import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { allArrived, checkDelivery } from '../support/delivery-check.ts'
import { dropSlotWhenFree, freePort, restartPostgres, spawnRowcast, stackCommand, startWriter, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * Delivery under faults, with rowcast as a real child process: Kafka stopped and started, PostgreSQL
 * restarted, rowcast SIGKILLed. At-least-once: every committed change arrives, per key in order.
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

async function slotLsn(env: StackEnv, slot: string): Promise<bigint> {
  const { rows } = await sql(env, 'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot])
  const [hi, lo] = (rows[0].lsn as string).split('/')
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`)
}

/** The LSN of the last "starting replication" line rowcast logged after `since` characters of log. */
function replicationStarts(logs: string): bigint[] {
  const starts: bigint[] = []
  for (const line of logs.split('\n')) {
    if (!line.includes('"starting replication"')) continue
    const from = (JSON.parse(line) as { from: string }).from
    const [hi, lo] = from.split('/')
    starts.push((BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`))
  }
  return starts
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

      // (2) PostgreSQL restart: rowcast reconnects and resumes from the slot's confirmed position.
      const slot = `rowcast_${table}`
      const confirmedBefore = await slotLsn(env, slot)
      const startsBefore = replicationStarts(proc.logs()).length
      const fastShutdown = await restartPostgres(2_000)
      await eventually(() => replicationStarts(proc.logs()), (s) => s.length > startsBefore, 60_000, `replication restarted: ${proc.logs().slice(-2_000)}`)
      const resumedFrom = replicationStarts(proc.logs()).at(-1) as bigint
      assert.ok(resumedFrom >= confirmedBefore, `resumed from ${resumedFrom}, before the restart the slot had confirmed ${confirmedBefore}`)
      figures.pgResumedFrom = resumedFrom.toString(16)
      figures.fastShutdown = fastShutdown
      await waitState(proc, table, 'streaming')
      await eventually(() => slotLsn(env, slot), (lsn) => lsn > resumedFrom, 30_000, 'slot advancing after the PostgreSQL restart')

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
        console.log(`faults: ${report.written} changes committed (${written.commits} acknowledged to the writer, ${written.errors} writer errors), ${report.delivered} messages delivered, ${report.duplicates} duplicates, restarts survived: Kafka 1, PostgreSQL 1, SIGKILL ${figures.restarts}; degraded seen during the Kafka outage: ${figures.kafkaDegradedSeen}; PostgreSQL fast shutdown completed: ${figures.fastShutdown}`)
        assert.deepEqual(report.missing, [], 'every committed change is delivered')
        assert.deepEqual(report.outOfOrder, [], 'per key, first occurrences are in commit order')
        assert.ok(report.written > 100, `the writer committed enough changes (${report.written})`)
      } finally {
        await consumer.stop()
      }
    } finally {
      await writer?.stop()
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, `rowcast_${table}`)
    }
  })
})
