import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { checkDelivery } from '../support/delivery-check.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, stackCommand, startWriter, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * delivery: exactly-once. Messages and the sync's progress record are committed in one Kafka transaction;
 * after a crash the progress (including how far into a large source transaction it got) says what to skip.
 */

async function createProgressTopic(env: StackEnv, topic: string): Promise<void> {
  await createTopics(env, [topic], 1, { 'cleanup.policy': 'compact' }) // retries what a just-restarted broker answers
}

async function waitStreaming(proc: RowcastProcess, sync: string, timeoutMs = 60_000): Promise<void> {
  await eventually(() => proc.states(), (s) => s?.[sync] === 'streaming', timeoutMs, `sync ${sync} streaming`).catch((error: Error) => {
    throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
  })
}

/** Commits `UPDATE <table> SET n = n + 1` on every row in one transaction, every `everyMs`, until stopped. */
function startBulkWriter(env: StackEnv, table: string, everyMs: number): { stop(): Promise<number> } {
  let stopping = false
  let commits = 0
  const loop = (async () => {
    const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await client.connect()
    try {
      while (!stopping) {
        await client.query(`UPDATE ${table} SET n = n + 1`)
        commits++
        await new Promise((r) => setTimeout(r, everyMs))
      }
    } finally {
      await client.end()
    }
  })()
  return {
    async stop() {
      stopping = true
      await loop
      return commits
    },
  }
}

describe('exactly-once delivery', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('SIGKILLed mid-stream 4 times (also inside source transactions split across Kafka transactions) and Kafka restarted: every change exactly once', { timeout: 240_000 }, async () => {
    const rows = 1_500
    const table = uniqueName('eos')
    const topic = uniqueName('eos')
    const progressTopic = uniqueName('eos_progress')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, ${rows}) g`)
    await createTopics(env, [topic])
    await createProgressTopic(env, progressTopic)
    const port = await freePort()
    // Small requests: a 1,500-row source transaction becomes 5+ Kafka transactions.
    const config = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    delivery: exactly-once
    message: { mapping: { id: id, n: n } }
`, port, `  progressTopic: ${progressTopic}
limits:
  maxRequestMessages: 300
  maxBatchRows: 200`)
    let proc = spawnRowcast(config, port)
    const writers: { stop(): Promise<unknown> }[] = []
    let kills = 0
    let partialResumes = 0
    try {
      await waitStreaming(proc, table)
      writers.push(startWriter(env, table, 20, 10), startBulkWriter(env, table, 400))
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 1_500 + i * 300))
        await proc.kill('SIGKILL')
        partialResumes += proc.notable().filter((l) => l.msg.startsWith('exactly-once') && l.partial !== undefined).length
        kills++
        proc = spawnRowcast(config, port)
        await waitStreaming(proc, table)
      }
      // A Kafka outage: the open transaction fails, the sync restarts from the committed progress.
      // (Only the one-row writer goes on: the bulk one would pile up a backlog that takes long to drain.)
      await writers.splice(1, 1)[0].stop()
      const outageStarted = Date.now()
      try {
        await stackCommand('kafka-stop')
        await new Promise((r) => setTimeout(r, 5_000))
      } finally {
        await stackCommand('kafka-start')
      }
      await waitStreaming(proc, table, 120_000)
      const recoveredMs = Date.now() - outageStarted
      await new Promise((r) => setTimeout(r, 1_500))
      for (const w of writers.splice(0)) await w.stop()
      const { rows: finalRows } = await sql(env, `SELECT id, n FROM ${table}`)
      const finals = new Map<number, number>(finalRows.map((r: { id: number; n: number }) => [r.id, r.n]))
      const expected = [...finals.values()].reduce((a, b) => a + b, 0)
      const consumer = await consume(env, [topic], { readCommitted: true })
      try {
        await consumer.waitFor(expected, 90_000).catch(() => undefined)
        await new Promise((r) => setTimeout(r, 2_000)) // duplicates, if any, would arrive by now
        const report = checkDelivery(consumer.messages, finals)
        console.log(`exactly-once: ${report.written} changes committed, ${report.delivered} delivered (read_committed), ${report.duplicates} duplicates, ${kills} SIGKILLs and a Kafka stop/start survived (streaming again ${recoveredMs} ms after the stop began)`)
        assert.deepEqual(report.missing.slice(0, 20), [], 'every committed change is delivered')
        assert.equal(report.duplicates, 0, 'no change is delivered twice')
        assert.deepEqual(report.outOfOrder, [], 'per key in commit order')
        assert.equal(report.delivered, expected)
        partialResumes += proc.notable().filter((l) => l.msg.startsWith('exactly-once') && l.partial !== undefined).length
        console.log(`exactly-once: ${partialResumes} of ${kills} restarts resumed inside a source transaction split across Kafka transactions`)
        assert.ok(partialResumes >= 1, 'at least one restart resumed inside a split source transaction')
      } finally {
        await consumer.stop()
      }
    } finally {
      for (const w of writers) await w.stop()
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, `rowcast_${table}`)
    }
  })

  test('the cost: throughput with and without exactly-once (printed)', { timeout: 120_000 }, async () => {
    const rows = 30_000
    const figures: Record<string, number> = { 'at-least-once': 0, 'exactly-once': 0 }
    const latencies: Record<string, number[]> = { 'at-least-once': [], 'exactly-once': [] }
    for (const delivery of ['at-least-once', 'exactly-once', 'at-least-once', 'exactly-once'] as const) {
      const table = uniqueName('eos_cost')
      const topic = uniqueName('eos_cost')
      const progressTopic = uniqueName('eos_cost_progress')
      await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL)`)
      await createTopics(env, [topic])
      await createProgressTopic(env, progressTopic)
      const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    delivery: ${delivery}
    message: { mapping: { id: id, n: n } }
`)
      const daemon = await runDaemon({ ...config, destination: { ...config.destination, progressTopic } })
      try {
        await streaming(daemon)
        let delivered = 0
        let last = 0
        const off = daemon.telemetry.on('produced', (p) => {
          delivered += p.count
          last = Date.now()
        })
        const started = Date.now()
        // 30 source transactions of 1,000 rows.
        await sql(env, `DO $$ BEGIN FOR i IN 0..29 LOOP INSERT INTO ${table} SELECT g, 0 FROM generate_series(i * 1000 + 1, i * 1000 + 1000) g; COMMIT; END LOOP; END $$`)
        await eventually(() => delivered, (d) => d >= rows, 90_000, `${delivery}: ${rows} messages delivered`)
        figures[delivery] = Math.max(figures[delivery], Math.round(rows / ((last - started) / 1000)))
        // A trickle: one-row transactions 20 ms apart, each its own request — the per-request cost shows.
        const offLatency = daemon.telemetry.on('produced', (p) => void latencies[delivery].push(p.produceLatencyMs))
        for (let i = 1; i <= 25; i++) {
          await sql(env, `UPDATE ${table} SET n = n + 1 WHERE id = ${i}`)
          await new Promise((r) => setTimeout(r, 20))
        }
        await eventually(() => delivered, (d) => d >= rows + 25, 30_000, `${delivery}: trickle delivered`)
        offLatency()
        off()
      } finally {
        await daemon.stop()
        await dropSlotWhenFree(env, `rowcast_${table}`)
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
    console.log(`exactly-once cost: ${rows} messages in 30 transactions of 1,000 rows: at-least-once ${figures['at-least-once']} msg/s, exactly-once ${figures['exactly-once']} msg/s (best of 2 runs each, including PostgreSQL decoding); one-row transactions: median produce latency at-least-once ${median(latencies['at-least-once'])} ms, exactly-once ${median(latencies['exactly-once'])} ms (per request: ${latencies['at-least-once'].length} / ${latencies['exactly-once'].length} requests)`)
    assert.ok(figures['exactly-once'] > 0 && figures['at-least-once'] > 0)
  })
})
