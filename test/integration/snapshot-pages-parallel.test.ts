import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, uniqueName, type Received } from '../support/harness.ts'
import { wrongKeys } from '../support/last-message-verdict.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * The chunked snapshot of a keyless table (REPLICA IDENTITY FULL, no primary key) by CTID page ranges, and
 * of a keyed table by two readers at once, each through the shipped CLI under a writer that inserts,
 * updates and deletes, SIGKILLed once mid-way. Verdict per row against PostgreSQL's final rows: the keyless
 * table's rows are told apart by `uid`, a unique column rowcast does not know as a key.
 */
const CHUNK_ROWS = 1_000

describe('chunked snapshot: keyless tables by page ranges, parallel readers', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  interface Value { uid: number; n: number; type: string; lsn: string }

  function syncYaml(table: string, snapshot: string): string {
    return `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: uid
    initialSync: backfill
    snapshot: ${snapshot}
    message:
      template: '{"uid": {{row.uid}}, "n": {{row.n}}, "type": "{{event.type}}", "lsn": "{{event.lsn}}"}'
`
  }

  /** Rows of about 3 KiB each (incompressible text, so the table is many pages). */
  async function fill(table: string, rows: number): Promise<void> {
    await sql(env, `INSERT INTO ${table} SELECT g, 0, (SELECT string_agg(md5(random()::text || g || i), '') FROM generate_series(1, 100) i) FROM generate_series(1, ${rows}) g`)
    await sql(env, `ANALYZE ${table}`)
    await createTopics(env, [table])
  }

  /** uids whose last message (partition order; one uid lives in one partition) is not the row in PostgreSQL. */
  async function verdict(table: string, messages: readonly Received[]): Promise<string[]> {
    const rows = (await sql(env, `SELECT uid, n FROM ${table}`)).rows as { uid: number; n: number }[]
    return wrongKeys(new Map(rows.map((r) => [r.uid, r.n])), messages, 'uid')
  }

  /** Inserts, updates (n + 1, by uid) and deletes rows across the table in small transactions until stopped. */
  function mutatingWriter(table: string, rows: number): { stop(): Promise<number> } {
    let stopping = false
    let commits = 0
    const loop = (async () => {
      const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
      client.on('error', () => undefined)
      await client.connect()
      let next = rows + 1
      for (let i = 0; !stopping; i++) {
        const uid = 1 + ((i * 7919) % rows)
        if (i % 5 === 0) await client.query(`INSERT INTO ${table} VALUES ($1, 1, repeat('x', 3000))`, [next++])
        else if (i % 5 === 1) await client.query(`DELETE FROM ${table} WHERE uid = $1`, [uid])
        else await client.query(`UPDATE ${table} SET n = n + 1 WHERE uid = $1 OR uid = $2`, [uid, next - 1])
        commits++
        await new Promise((r) => setTimeout(r, 3))
      }
      await client.end()
    })()
    return {
      async stop() {
        stopping = true
        await loop
        return commits
      },
    }
  }

  async function snapshotAfter(sync: string): Promise<{ backfill: string | null; after: string[] | null }> {
    const row = (await sql(env, 'SELECT backfill, snapshot_after AS after FROM _rowcast.sync_state WHERE sync = $1', [sync])).rows[0] as { backfill: string; after: string[] | null } | undefined
    return { backfill: row?.backfill ?? null, after: row?.after ?? null }
  }

  /** Backfill under the writer, one SIGKILL once `killAt` rows are in Kafka; returns the messages and the recorded positions seen. */
  async function backfillUnderWriter(table: string, rows: number, snapshot: string, killAt: number) {
    const port = await freePort()
    const config = writeConfig(env, syncYaml(table, snapshot), port)
    const consumer = await consume(env, [table])
    const writer = mutatingWriter(table, rows)
    const positions = new Set<string>()
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const { after } = await snapshotAfter(table).catch(() => ({ after: null })) // _rowcast appears with the daemon
        if (after !== null) positions.add(JSON.stringify(after))
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    let proc: RowcastProcess = spawnRowcast(config, port)
    try {
      await eventually(() => consumer.messages.length, (n) => n >= killAt, 120_000, `${killAt} rows in Kafka`).catch((error: unknown) => {
        throw new Error(`${String(error)}; rowcast's log ends: ${proc.logs().slice(-1_500)}`)
      })
      await proc.kill('SIGKILL')
      proc = spawnRowcast(config, port)
      await eventually(async () => (await snapshotAfter(table)).backfill, (s) => s === 'done', 150_000, 'backfill recorded as done')
      await new Promise((r) => setTimeout(r, 1_000))
      const commits = await writer.stop()
      const wrong = await eventually(() => verdict(table, consumer.messages), (w) => w.length === 0, 60_000, 'last message per row equals PostgreSQL').catch(() => verdict(table, consumer.messages))
      const snapshotRows = consumer.messages.map((m) => JSON.parse(m.value) as Value).filter((v) => v.lsn === '0/0')
      const resent = snapshotRows.length - new Set(snapshotRows.map((v) => v.uid)).size
      return { commits, wrong, messages: consumer.messages.length, snapshotRows: snapshotRows.length, resent, positions: [...positions], logs: proc.logs() }
    } finally {
      watching = false
      await watcher
      await writer.stop()
      await proc.kill('SIGKILL')
      await consumer.stop()
      await dropSlotWhenFree(env, `rowcast_${table}`)
    }
  }

  test('a keyless table is read by CTID page ranges under a writer, SIGKILLed, resumes at its page and ends with every row equal to PostgreSQL', { timeout: 300_000 }, async (t) => {
    const table = uniqueName('pages')
    const rows = 12_000
    // No primary key; uid is unique (an index the writer uses), but rowcast is not told it identifies a row.
    await sql(env, `CREATE TABLE ${table} (uid int NOT NULL, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `CREATE UNIQUE INDEX ON ${table} (uid)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await fill(table, rows)
    const result = await backfillUnderWriter(table, rows, `{ chunkRows: ${CHUNK_ROWS} }`, rows * 0.4)
    t.diagnostic(`${rows} rows, ${result.commits} writer transactions, ${result.messages} messages, ${result.snapshotRows} snapshot rows, ${result.resent} re-sent, ${result.wrong.length} rows wrong, positions recorded: ${result.positions.slice(0, 6).join(' ')}`)
    assert.deepEqual(result.wrong.slice(0, 10), [], `${result.wrong.length} rows whose last message is not the row in PostgreSQL`)
    assert.ok(result.commits > 100, `the writer committed during the backfill (${result.commits})`)
    // Resumable by page: the recorded position is the first page not yet delivered, as a TID.
    const pages = result.positions.map((p) => JSON.parse(p) as string[]).filter((p) => p.length === 1 && /^\(\d+,0\)$/.test(p[0]))
    assert.ok(pages.length >= 3, `page positions recorded as the snapshot went: ${result.positions.join(' ')}`)
    assert.ok(result.resent <= 2 * CHUNK_ROWS, `rows re-sent because of the kill: ${result.resent}`)
  })

  test('two readers per table (snapshot.parallelism: 2) under a writer, SIGKILLed, end with every key equal to PostgreSQL', { timeout: 300_000 }, async (t) => {
    const table = uniqueName('parallel')
    const rows = 12_000
    await sql(env, `CREATE TABLE ${table} (uid int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await fill(table, rows)
    const result = await backfillUnderWriter(table, rows, `{ chunkRows: ${CHUNK_ROWS}, parallelism: 2 }`, rows * 0.4)
    t.diagnostic(`${rows} rows, ${result.commits} writer transactions, ${result.messages} messages, ${result.snapshotRows} snapshot rows, ${result.resent} re-sent, ${result.wrong.length} keys wrong`)
    assert.deepEqual(result.wrong.slice(0, 10), [], `${result.wrong.length} keys whose last message is not the row in PostgreSQL`)
    assert.ok(result.commits > 100, `the writer committed during the backfill (${result.commits})`)
    assert.match(result.logs, /"readers":2/, 'the snapshot ran two readers')
    // Out of order finishing: the lowest contiguous delivered chunk is recorded, so a kill re-sends at most the chunks in flight.
    assert.ok(result.resent <= 3 * CHUNK_ROWS, `rows re-sent because of the kill: ${result.resent}`)
  })
})
