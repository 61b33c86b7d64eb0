import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import type { TelemetryEvents } from '../../core/telemetry.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName, type Received } from '../support/harness.ts'

/** initialSync: backfill, restart during a backfill, resync from the CLI, initialSync: skip. */
describe('initial sync', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  function syncYaml(table: string, initialSync: 'backfill' | 'skip'): string {
    return `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    initialSync: ${initialSync}
    message:
      template: '{"id": {{row.id}}, "v": {{row.v}}, "type": "{{event.type}}"}'
`
  }

  async function backfillState(sync: string): Promise<string | null> {
    const result = await sql(env, 'SELECT backfill FROM _rowcast.sync_state WHERE sync = $1', [sync])
    return (result.rows[0]?.backfill as string | undefined) ?? null
  }

  /** key -> the last message of that key, in partition order. */
  function lastByKey(messages: readonly Received[]): Map<string, { id: number; v: number; type: string }> {
    const last = new Map<string, { id: number; v: number; type: string }>()
    for (const m of messages) last.set(m.key ?? '', JSON.parse(m.value))
    return last
  }

  test('every row arrives as added, then changes made during the backfill stream with nothing lost at the boundary', async (t) => {
    const table = uniqueName('backfill')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await sql(env, `INSERT INTO ${table} SELECT i, 0 FROM generate_series(1, 20000) i`)
    await createTopics(env, [table])
    const config = configFor(env, syncYaml(table, 'backfill'), 'limits: { maxBatchRows: 200, maxInFlightMessages: 1000, maxRequestMessages: 200 }')

    const writer = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    writer.on('error', () => undefined) // a lost connection fails the writer's next query instead
    await writer.connect()
    const consumer = await consume(env, [table])
    const progress: TelemetryEvents['backfill'][] = []
    let writesDuringBackfill = 0
    let backfillDone = false
    let writing = true
    let writes = 0
    let nextId = 20_001
    let started: () => void = () => undefined
    const backfillStarted = new Promise<void>((r) => (started = r))
    const daemon = await runDaemon(config)
    daemon.telemetry.on('backfill', (event) => {
      progress.push(event)
      started()
      if (event.done === event.total && event.total > 0) backfillDone = true
    })
    // A concurrent writer: updates, inserts and deletes, in small transactions, during and after the backfill.
    const writerLoop = (async () => {
      await backfillStarted
      let i = 0
      while (writing) {
        const id = 1 + ((i * 7919) % 20_000)
        if (i % 5 === 0) await writer.query(`INSERT INTO ${table} VALUES ($1, 1)`, [nextId++])
        else if (i % 5 === 1) await writer.query(`DELETE FROM ${table} WHERE id = $1`, [id])
        else await writer.query(`BEGIN; UPDATE ${table} SET v = v + 1 WHERE id = $1; UPDATE ${table} SET v = v + 1 WHERE id = ${nextId - 1}; COMMIT`.replace('$1', String(id)))
        i++
        writes++
        if (!backfillDone) writesDuringBackfill++
      }
    })()
    try {
      await eventually(() => backfillDone, (done) => done, 40_000, 'backfill done')
      await new Promise((r) => setTimeout(r, 500)) // keep writing a little after the boundary
      writing = false
      await writerLoop
      t.diagnostic(`${writes} writer transactions, ${writesDuringBackfill} of them during the backfill`)
      assert.ok(writesDuringBackfill > 20, `the writer changed rows during the backfill (${writesDuringBackfill} of ${writes} writes)`)

      const final = new Map<string, number>()
      for (const row of (await sql(env, `SELECT id, v FROM ${table}`)).rows as { id: number; v: number }[]) final.set(String(row.id), row.v)
      const mismatches = () => {
        const last = lastByKey(consumer.messages)
        const wrong: string[] = []
        for (const id of new Set([...final.keys(), ...last.keys()])) {
          const want = final.get(id)
          const got = last.get(id)
          if (want === undefined ? got?.type !== 'removed' : got === undefined || got.type === 'removed' || got.v !== want) wrong.push(`${id}: want ${want ?? 'removed'}, got ${JSON.stringify(got)}`)
        }
        return wrong
      }
      await eventually(mismatches, (wrong) => wrong.length === 0, 40_000, 'last message per key equals the final row')

      // The snapshot is read in chunks beside the stream: a row the writer never touched first arrives as added
      // (one it changed before its chunk was read may first arrive from the stream). Deleted rows end on removed (above).
      const touched = new Set<string>()
      for (let i = 0; i < writes; i++) touched.add(String(1 + ((i * 7919) % 20_000)))
      const first = new Map<string, string>()
      for (const m of consumer.messages) if (!first.has(m.key ?? '')) first.set(m.key ?? '', JSON.parse(m.value).type)
      for (let id = 1; id <= 20_000; id++) if (!touched.has(String(id))) assert.equal(first.get(String(id)), 'added', `row ${id} first arrives as added`)
      const last = progress.at(-1)
      assert.ok(last !== undefined && last.done === last.total && last.done >= 20_000 - writes, `the last progress counts every row read (${JSON.stringify(last)})`)
      assert.ok(progress.every((p, i) => i === 0 || p.done >= progress[i - 1].done), 'progress only grows')
      await eventually(() => backfillState(table), (s) => s === 'done', 10_000, 'backfill recorded as done')
      assert.equal(daemon.syncs[0].state, 'streaming')
    } finally {
      writing = false
      await writerLoop.catch(() => undefined)
      await writer.end()
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('a daemon stopped during the backfill runs the backfill again on start, to the end', async () => {
    const table = uniqueName('bfrestart')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT i, 0 FROM generate_series(1, 30000) i`)
    await createTopics(env, [table])
    const config = configFor(env, syncYaml(table, 'backfill'), 'limits: { maxBatchRows: 250, maxInFlightMessages: 500, maxRequestMessages: 250 }')

    const first = await runDaemon(config)
    let stopping: Promise<void> | null = null
    const firstProgress: number[] = []
    first.telemetry.on('backfill', (event) => {
      firstProgress.push(event.done)
      // Stop right after the first rows are handed on: the backfill is certainly not finished.
      if (event.done > 0 && stopping === null) stopping = first.stop()
    })
    try {
      await eventually(() => stopping, (s) => s !== null, 30_000, 'backfill started')
      await stopping
      assert.ok(Math.max(...firstProgress) < 30_000, 'stopped before the end of the backfill')
      assert.equal(await backfillState(table), 'pending')
    } finally {
      await first.stop()
    }

    const consumer = await consume(env, [table])
    try {
      await restartAndFinish(config, table, consumer)
    } finally {
      await consumer.stop()
    }
  })

  async function restartAndFinish(config: ReturnType<typeof configFor>, table: string, consumer: Awaited<ReturnType<typeof consume>>): Promise<void> {
    const second = await runDaemon(config)
    const secondProgress: TelemetryEvents['backfill'][] = []
    second.telemetry.on('backfill', (event) => secondProgress.push(event))
    try {
      await eventually(() => secondProgress.at(-1), (p) => p !== undefined && p.done === 30_000 && p.total === 30_000, 40_000, 'second backfill complete')
      await eventually(() => new Set(consumer.messages.map((m) => m.key)).size, (n) => n === 30_000, 40_000, 'every row in Kafka')
      await eventually(() => backfillState(table), (s) => s === 'done', 10_000, 'backfill recorded as done')
      await streaming(second)
      await sql(env, `UPDATE ${table} SET v = 5 WHERE id = 7`)
      await eventually(() => consumer.messages.filter((m) => m.key === '7').map((m) => JSON.parse(m.value)).at(-1), (v) => v?.v === 5 && v.type === 'changed', 20_000, 'change after the backfill')
    } finally {
      await second.stop()
    }

    // A finished backfill is not run again: a restart streams on from the slot.
    const delivered = consumer.messages.length
    const third = await runDaemon(config)
    const thirdProgress: TelemetryEvents['backfill'][] = []
    third.telemetry.on('backfill', (event) => thirdProgress.push(event))
    try {
      await streaming(third)
      await sql(env, `UPDATE ${table} SET v = 6 WHERE id = 8`)
      await consumer.waitFor(delivered + 1, 20_000)
      await new Promise((r) => setTimeout(r, 500))
      assert.deepEqual(consumer.messages.slice(delivered).map((m) => JSON.parse(m.value)), [{ id: 8, v: 6, type: 'changed' }])
      assert.equal(thirdProgress.length, 0, 'no backfill')
    } finally {
      await third.stop()
    }
  }

  test('`rowcast resync` while the daemon runs re-sends every row as added', async () => {
    const table = uniqueName('resync')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT i, i FROM generate_series(1, 50) i`)
    await createTopics(env, [table])
    const yaml = `
source:
  postgres: { url: "${env.ROWCAST_PG_URL}", heartbeatIntervalMs: 1000, statusIntervalMs: 1000, streamGroup: { slot: ${TEST_GROUP} } }
destination:
  kafka: { clientId: rowcast-test, brokers: "${env.KAFKA_BOOTSTRAP_PLAINTEXT}" }
syncs:
${syncYaml(table, 'skip')}`
    const file = join(mkdtempSync(join(tmpdir(), 'rowcast-resync-')), 'rowcast.yaml')
    writeFileSync(file, yaml)
    const daemon = await runDaemon(configFor(env, syncYaml(table, 'skip')))
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `UPDATE ${table} SET v = -1 WHERE id = 1`)
      await consumer.waitFor(1)
      const output = await new Promise<{ code: number | null; out: string }>((resolve) => {
        execFile(process.execPath, ['bin/rowcast.mjs', 'resync', '--config', file, '--sync', table], { timeout: 30_000 }, (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), out: stdout + stderr }),
        )
      })
      assert.equal(output.code, 0, output.out)
      assert.match(output.out, /resync of ".+" requested/)
      const requested = Date.now()
      const messages = await consumer.waitFor(51, 20_000)
      const elapsed = Date.now() - requested
      assert.ok(elapsed < 12_000, `resync within ~10 s (took ${elapsed} ms)`)
      const resent = messages.slice(1).map((m) => JSON.parse(m.value))
      assert.ok(resent.every((v) => v.type === 'added'))
      assert.deepEqual(resent.map((v) => v.id).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1))
      assert.equal(resent.find((v) => v.id === 1)?.v, -1, 'the current row, not the original')
      await eventually(() => backfillState(table), (s) => s === 'done', 10_000, 'resync recorded as done')
      await streaming(daemon)
      await sql(env, `UPDATE ${table} SET v = 100 WHERE id = 2`)
      const after = await consumer.waitFor(52, 20_000)
      assert.deepEqual(JSON.parse(after[51].value), { id: 2, v: 100, type: 'changed' })
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('initialSync: skip sends only changes made after the slot was created', async () => {
    const table = uniqueName('skip')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT i, 0 FROM generate_series(1, 100) i`)
    await createTopics(env, [table])
    const daemon = await runDaemon(configFor(env, syncYaml(table, 'skip')))
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (101, 1)`)
      await sql(env, `UPDATE ${table} SET v = 2 WHERE id = 3`)
      await consumer.waitFor(2)
      await new Promise((r) => setTimeout(r, 1_000))
      assert.deepEqual(consumer.messages.map((m) => JSON.parse(m.value)), [{ id: 101, v: 1, type: 'added' }, { id: 3, v: 2, type: 'changed' }])
      assert.equal(await backfillState(table), null, 'no backfill ran')
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })
})
