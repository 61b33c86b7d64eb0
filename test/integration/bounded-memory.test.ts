import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { allArrived, checkDelivery } from '../support/delivery-check.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, stackCommand, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * Memory stays bounded while Kafka is down, with rowcast as a real child process (the shipped CLI):
 * a sync whose triggers filter out most changes keeps a bounded checkpoint, and a steady write load of
 * rows of a few KiB held back by a 60 s outage keeps the daemon's RSS flat. Everything arrives afterwards.
 */

async function metric(proc: RowcastProcess, name: string, sync: string): Promise<number | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${proc.port}/metrics`, { signal: AbortSignal.timeout(2_000) })).text()
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`sync="${sync}"`))
    return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1))
  } catch {
    return null
  }
}

async function waitState(proc: RowcastProcess, sync: string, state: string, timeoutMs = 60_000): Promise<void> {
  await eventually(() => proc.states(), (s) => s?.[sync] === state, timeoutMs, `sync ${sync} ${state}`).catch((error: Error) => {
    throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
  })
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
}

/** Updates keys 1..keys in turn (n = n + 1, a fresh `bytes`-long pad each time), one transaction each, until stopped. */
function startPaddedWriter(env: StackEnv, table: string, keys: number, bytes: number): { stop(): Promise<number> } {
  let stopping = false
  let commits = 0
  const loop = (async () => {
    const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await client.connect()
    try {
      for (let key = 0; !stopping; key++) {
        await client.query(`UPDATE ${table} SET n = n + 1, pad = $2 WHERE id = $1`, [(key % keys) + 1, randomBytes(bytes * 3 / 4).toString('base64')])
        commits++
        await new Promise((r) => setTimeout(r, 4))
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

describe('bounded memory while Kafka is down (rowcast as a child process)', () => {
  let env: StackEnv
  let kafkaDown = false
  before(async () => {
    env = await stack()
  })
  after(async () => {
    if (kafkaDown) await stackCommand('kafka-start')
  })

  test('a sync with triggers: [removed] on a busy table: filtered-out batches behind a waiting one are merged, the checkpoint stays small', { timeout: 150_000 }, async () => {
    const table = uniqueName('filtered_busy')
    const topic = uniqueName('filtered_busy')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, pad text NOT NULL)`)
    await sql(env, `INSERT INTO ${table} VALUES (0, 'first')`)
    await createTopics(env, [topic])
    const port = await freePort()
    const config = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    triggers: [removed]
    message: { mapping: { id: id } }
`, port)
    const proc = spawnRowcast(config, port)
    const transactions = 5_000
    try {
      await waitState(proc, table, 'streaming')
      await stackCommand('kafka-stop')
      kafkaDown = true
      // One removal waits for Kafka at the head; then thousands of filtered-out transactions queue behind it.
      await sql(env, `DELETE FROM ${table} WHERE id = 0`)
      await sql(env, `DO $$ BEGIN FOR i IN 1..${transactions} LOOP INSERT INTO ${table} VALUES (i, 'x'); COMMIT; END LOOP; END $$`)
      await eventually(() => metric(proc, 'rowcast_row_changes_filtered_total', table), (n) => (n ?? 0) >= transactions, 60_000, 'every insert read and filtered')
      const pending = await metric(proc, 'rowcast_checkpoint_pending_batches', table)
      console.log(`filtered while Kafka was down: ${transactions} transactions behind one waiting removal; checkpoint batches pending: ${pending}`)
      assert.ok(pending !== null && pending <= 2, `the checkpoint holds ${pending} batches for 1 waiting removal and ${transactions} filtered-out transactions`)

      await stackCommand('kafka-start')
      kafkaDown = false
      const consumer = await consume(env, [topic])
      try {
        const [removal] = await consumer.waitFor(1, 90_000)
        assert.equal(JSON.parse(removal.value).id, 0, 'the removal is delivered')
      } finally {
        await consumer.stop()
      }
      const walEnd = (await sql(env, 'SELECT pg_current_wal_lsn() AS lsn')).rows[0].lsn as string
      await eventually(async () => (await sql(env, 'SELECT confirmed_flush_lsn >= $2::pg_lsn AS past FROM pg_replication_slots WHERE slot_name = $1', [TEST_GROUP, walEnd])).rows[0]?.past === true,
        (past) => past, 30_000, 'the group\'s slot confirmed past the filtered transactions')
    } finally {
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, TEST_GROUP)
    }
  })

  // Runs ~2 to 2.5 min: 10 s of writes with Kafka up, 60 s down under the same load, Kafka's restart, the catch-up.
  test('Kafka down for 60 s under a steady load of 4 KiB rows: RSS flat after the first seconds, under the README figure; everything delivered afterwards', { timeout: 240_000 }, async () => {
    const table = uniqueName('rss_outage')
    const topic = uniqueName('rss_outage')
    const keys = 16
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0, '' FROM generate_series(1, ${keys}) g`)
    await createTopics(env, [topic])
    const port = await freePort()
    const config = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, n: n, pad: pad } }
`, port)
    const proc = spawnRowcast(config, port)
    let writer: ReturnType<typeof startPaddedWriter> | null = null
    const samples: number[] = [] // VmRSS in MiB, one a second while Kafka is down
    try {
      await waitState(proc, table, 'streaming')
      writer = startPaddedWriter(env, table, keys, 4_096)
      await new Promise((r) => setTimeout(r, 10_000))
      await stackCommand('kafka-stop')
      kafkaDown = true
      for (let i = 0; i < 60; i++) {
        samples.push(rssKb(proc.pid) / 1024)
        await new Promise((r) => setTimeout(r, 1_000))
      }
      await stackCommand('kafka-start')
      kafkaDown = false
      await new Promise((r) => setTimeout(r, 2_000))
      const commits = await writer.stop()
      writer = null

      const finals = new Map((await sql(env, `SELECT id, n FROM ${table}`)).rows.map((r: { id: number; n: number }) => [r.id, r.n]))
      const consumer = await consume(env, [topic])
      try {
        await eventually(() => consumer.messages, (m) => allArrived(m, finals), 120_000, 'every committed change in Kafka').catch(() => undefined)
        const report = checkDelivery(consumer.messages, finals)
        const first = Math.max(...samples.slice(0, 20))
        const last = Math.max(...samples.slice(20))
        const paused = await metric(proc, 'rowcast_paused', table)
        console.log(`RSS while Kafka was down 60 s (MiB): max of the first 20 s ${first.toFixed(1)}, max of the last 40 s ${last.toFixed(1)}, min ${Math.min(...samples).toFixed(1)}; samples ${samples.map((v) => v.toFixed(0)).join(' ')}; ${commits} updates of 4 KiB committed, ${report.delivered} messages delivered, ${report.duplicates} duplicates, ${report.missing.length} missing; paused at the end: ${paused}`)
        assert.deepEqual(report.missing, [], 'every committed change is delivered')
        assert.deepEqual(report.outOfOrder, [], 'per key, first occurrences are in commit order')
        assert.ok(commits > 2_000, `the load outgrew the in-flight bound (6 MiB): ${commits} updates of 4 KiB`)
        assert.ok(last <= first + 16, `RSS grew while Kafka was down: max of the last 40 s ${last.toFixed(1)} MiB > max of the first 20 s ${first.toFixed(1)} MiB + 16`)
        assert.ok(Math.max(...samples) * 2 ** 20 < 200e6, `RSS ${Math.max(...samples).toFixed(1)} MiB, over the README's target of 200 MB`)
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
