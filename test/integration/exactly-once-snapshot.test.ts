import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, kafkaClient, sql, stack, uniqueName, type Received } from '../support/harness.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, startWriter, writeConfig } from '../support/rowcast-process.ts'

/**
 * delivery: exactly-once with a backfill: a chunk's rows and the snapshot's position (the last row's key)
 * are committed in one Kafka transaction, so a SIGKILLed backfill resumes after the last row in Kafka and a
 * read_committed consumer sees every row's snapshot message once. Through the shipped CLI, under a writer.
 */
const ROWS = 6_000
const CHUNK_ROWS = 400 // 15 chunks; with 150-message requests each chunk spans several Kafka transactions

async function createProgressTopic(env: StackEnv, topic: string): Promise<void> {
  const admin = kafkaClient(env).admin()
  await admin.connect()
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }], waitForLeaders: true })
  } finally {
    await admin.disconnect()
  }
}

interface Value { id: number; n: number; type: string; lsn: string }

describe('exactly-once backfill', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('a backfill SIGKILLed twice mid-chunk: a read_committed consumer sees each row\'s snapshot message at most once, every key ends equal to PostgreSQL', { timeout: 240_000 }, async (t) => {
    const table = uniqueName('eos_snap')
    const progressTopic = uniqueName('eos_snap_progress')
    // Rows of about 3 KiB: a chunk is about 1.2 MB, more than one request.
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0, repeat(md5(g::text), 96) FROM generate_series(1, ${ROWS}) g`)
    await createTopics(env, [table])
    await createProgressTopic(env, progressTopic)
    const port = await freePort()
    const config = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    initialSync: backfill
    delivery: exactly-once
    snapshot: { chunkRows: ${CHUNK_ROWS} }
    message:
      template: '{"id": {{row.id}}, "n": {{row.n}}, "type": "{{event.type}}", "lsn": "{{event.lsn}}", "pad": "{{row.pad}}"}'
`, port, `  progressTopic: ${progressTopic}
limits:
  maxRequestMessages: 150
  maxBatchRows: 100`)
    const consumer = await consume(env, [table], { readCommitted: true })
    const writer = startWriter(env, table, ROWS, 5) // UPDATE n = n + 1 across the keys: the stream sends "changed"
    let proc = spawnRowcast(config, port)
    const resumes: string[] = []
    try {
      for (const fraction of [0.3, 0.6]) {
        await eventually(() => consumer.messages.length, (n) => n >= ROWS * fraction, 120_000, `${fraction * 100} % of the rows in Kafka`).catch((error: Error) => {
          throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
        })
        await proc.kill('SIGKILL')
        resumes.push(...proc.notable().filter((l) => l.msg.startsWith('exactly-once')).map((l) => l.msg))
        proc = spawnRowcast(config, port)
      }
      await eventually(async () => (await sql(env, 'SELECT backfill FROM _rowcast.sync_state WHERE sync = $1', [table])).rows[0]?.backfill as string | undefined, (s) => s === 'done', 150_000, 'backfill recorded as done')
      await new Promise((r) => setTimeout(r, 1_000))
      const { commits } = await writer.stop()
      const final = new Map(((await sql(env, `SELECT id, n FROM ${table}`)).rows as { id: number; n: number }[]).map((r) => [r.id, r.n]))
      const wrongKeys = (): string[] => {
        const last = new Map<number, Value>()
        const sorted = [...consumer.messages].sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
        for (const m of sorted) last.set(...idValue(m))
        return [...final].filter(([id, n]) => last.get(id)?.n !== n).map(([id, n]) => `${id}: want ${n}, got ${JSON.stringify(last.get(id)?.n)}`)
      }
      const wrong = await eventually(wrongKeys, (w) => w.length === 0, 60_000, 'last message per key equals PostgreSQL').catch(wrongKeys)
      await new Promise((r) => setTimeout(r, 2_000)) // duplicates, if any, would arrive by now
      const snapshotCount = new Map<number, number>()
      const changes = new Set<string>()
      let changeDuplicates = 0
      for (const m of consumer.messages) {
        const [id, value] = idValue(m)
        if (value.lsn === '0/0') snapshotCount.set(id, (snapshotCount.get(id) ?? 0) + 1)
        else if (changes.has(`${id}:${value.n}`)) changeDuplicates++
        else changes.add(`${id}:${value.n}`)
      }
      const twice = [...snapshotCount].filter(([, c]) => c > 1)
      t.diagnostic(`${ROWS} rows in ${Math.ceil(ROWS / CHUNK_ROWS)} chunks, ${commits} writer transactions, ${consumer.messages.length} messages (read_committed), ${snapshotCount.size} keys with a snapshot row, ${twice.length} of them twice, ${changeDuplicates} stream changes twice, ${wrong.length} keys wrong; restarts: ${JSON.stringify(resumes)}`)
      assert.ok(commits > 100, `the writer committed during the backfill (${commits})`)
      assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} keys whose last message is not the row in PostgreSQL`)
      assert.deepEqual(twice.slice(0, 10).map(([id, c]) => `${id}: ${c} snapshot messages`), [], `${twice.length} keys whose snapshot row a read_committed consumer saw more than once`)
      assert.equal(changeDuplicates, 0, 'no stream change twice')
    } finally {
      await writer.stop()
      await proc.kill('SIGKILL')
      await consumer.stop()
      await dropSlotWhenFree(env, `rowcast_${table}`)
    }
  })
})

function idValue(message: Received): [number, Value] {
  const value = JSON.parse(message.value) as Value
  return [value.id, value]
}
