import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, TEST_GROUP, uniqueName, type Received } from '../support/harness.ts'
import { wrongKeys } from '../support/last-message-verdict.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * The chunked snapshot beside the stream (DBLog watermarks), through the shipped CLI: a backfill under a
 * writer that inserts, updates and deletes, SIGKILLed twice; a resync under the same writer. Verdict per
 * key against PostgreSQL's final rows.
 */
const ROWS = 300_000 // the size: many chunks, SIGKILLed at a quarter and a half
const CHUNK_ROWS = 2_000 // the default snapshot.chunkRows

describe('chunked snapshot beside the stream', () => {
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
      template: '{"id": {{row.id}}, "n": {{row.n}}, "type": "{{event.type}}", "lsn": "{{event.lsn}}"}'
`
  }

  async function createTable(table: string, rows: number): Promise<void> {
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0, repeat(md5(g::text), 8) FROM generate_series(1, ${rows}) g`)
    await createTopics(env, [table])
  }

  /** Keys whose last message is not the row in PostgreSQL. */
  async function verdict(table: string, messages: readonly Received[]): Promise<string[]> {
    const rows = (await sql(env, `SELECT id, n FROM ${table}`)).rows as { id: number; n: number }[]
    return wrongKeys(new Map(rows.map((r) => [r.id, r.n])), messages)
  }

  /** Inserts, updates (n + 1) and deletes rows across the table in small transactions until stopped. */
  function mutatingWriter(table: string, keys: number): { commits: () => number; stop(): Promise<number> } {
    let stopping = false
    let commits = 0
    const loop = (async () => {
      const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
      client.on('error', () => undefined)
      await client.connect()
      let nextId = keys + 1
      for (let i = 0; !stopping; i++) {
        const id = 1 + ((i * 7919) % keys)
        if (i % 5 === 0) await client.query(`INSERT INTO ${table} VALUES ($1, 1, repeat('x', 256))`, [nextId++])
        else if (i % 5 === 1) await client.query(`DELETE FROM ${table} WHERE id = $1`, [id])
        else await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = $1 OR id = $2`, [id, nextId - 1])
        commits++
        await new Promise((r) => setTimeout(r, 3))
      }
      await client.end()
    })()
    return {
      commits: () => commits,
      async stop() {
        stopping = true
        await loop
        return commits
      },
    }
  }

  async function state(proc: RowcastProcess, sync: string): Promise<string | undefined> {
    return (await proc.states())?.[sync]
  }

  async function backfillState(sync: string): Promise<string | null> {
    const result = await sql(env, 'SELECT backfill FROM _rowcast.sync_state WHERE sync = $1', [sync])
    return (result.rows[0]?.backfill as string | undefined) ?? null
  }

  test('a backfill under a writer, SIGKILLed twice, resumes at its chunk and ends with every key equal to PostgreSQL', { timeout: 600_000 }, async (t) => {
    const table = uniqueName('chunked')
    await createTable(table, ROWS)
    const port = await freePort()
    const config = writeConfig(env, syncYaml(table, 'backfill'), port)
    const consumer = await consume(env, [table])
    const writer = mutatingWriter(table, ROWS)
    let proc = spawnRowcast(config, port)
    try {
      // SIGKILL twice while the snapshot is under way (a quarter and a half of the rows in Kafka).
      for (const fraction of [0.25, 0.5]) {
        await eventually(() => consumer.messages.length, (n) => n >= ROWS * fraction, 240_000, `${fraction * 100} % of the rows in Kafka`)
        await proc.kill('SIGKILL')
        proc = spawnRowcast(config, port)
      }
      // Visible while it runs: GET /status and `rowcast status` show rows done / estimated total.
      type Status = { syncs: Record<string, { state: string; snapshot: { running: boolean; rowsDone: number; rowsTotal: number; chunks: number } | null }> }
      const status = await eventually(async () => {
        try {
          return (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as Status
        } catch {
          return null
        }
      }, (s) => (s?.syncs[table]?.snapshot?.chunks ?? 0) >= 2, 60_000, 'snapshot progress on /status')
      const shown = status?.syncs[table]
      assert.equal(shown?.state, 'streaming', 'the stream runs during the snapshot')
      assert.ok((shown?.snapshot?.rowsDone ?? 0) > ROWS * 0.4 && (shown?.snapshot?.rowsTotal ?? 0) >= ROWS * 0.9, `rows done / estimated total after the restarts: ${JSON.stringify(shown)}`)
      const cli = await promisify(execFile)(process.execPath, ['bin/rowcast.mjs', 'status', '--config', config], { timeout: 90_000 })
      assert.match(cli.stdout, new RegExp(`^${table}: streaming, snapshot (running|done) \\[[#.]{20}\\] \\d+/\\d+ rows`, 'm'), cli.stdout)
      await eventually(() => backfillState(table), (s) => s === 'done', 300_000, 'backfill recorded as done')
      await new Promise((r) => setTimeout(r, 1_000))
      const commits = await writer.stop()
      const wrong = await eventually(() => verdict(table, consumer.messages), (w) => w.length === 0, 60_000, 'last message per key equals PostgreSQL').catch(() => verdict(table, consumer.messages))
      // Snapshot rows carry no stream position: those beyond one per key were sent again because of the kills.
      const snapshotRows = consumer.messages.map((m) => JSON.parse(m.value) as { id: number; lsn: string }).filter((v) => v.lsn === '0/0')
      const resent = snapshotRows.length - new Set(snapshotRows.map((v) => v.id)).size
      t.diagnostic(`${ROWS} rows, ${commits} writer transactions, ${consumer.messages.length} messages, ${snapshotRows.length} snapshot rows, ${resent} re-sent after 2 SIGKILLs, ${wrong.length} keys wrong`)
      assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} keys whose last message is not the row in PostgreSQL`)
      assert.ok(commits > 100, `the writer committed during the backfill (${commits})`)
      assert.ok(resent <= 2 * CHUNK_ROWS, `rows re-sent because of the kills: ${resent} (at most two chunks, ${2 * CHUNK_ROWS})`)
    } catch (error) {
      t.diagnostic(`rowcast's log since the last start:\n${proc.logs()}`)
      throw error
    } finally {
      await writer.stop()
      await proc.kill('SIGKILL')
      await consumer.stop()
      await dropSlotWhenFree(env, `rowcast_${table}`)
    }
  })

  test('`rowcast resync` under a writer keeps the slot, loses no change and leaves no deleted row on added', { timeout: 240_000 }, async (t) => {
    const table = uniqueName('resyncw')
    const rows = 20_000
    await createTable(table, rows)
    const port = await freePort()
    const config = writeConfig(env, syncYaml(table, 'skip'), port)
    const slot = TEST_GROUP // the sync shares the file's stream group (the default): the resync keeps the group's slot
    const consumer = await consume(env, [table])
    const proc = spawnRowcast(config, port)
    let writer: ReturnType<typeof mutatingWriter> | null = null
    const slotSeen: { pid: string | null; restart: string | null }[] = []
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const found = (await sql(env, "SELECT xmin::text AS x, restart_lsn::text AS restart, catalog_xmin::text AS pid FROM pg_replication_slots WHERE slot_name = $1", [slot])).rows[0] as { restart: string; pid: string } | undefined
        slotSeen.push(found === undefined ? { pid: null, restart: null } : { pid: found.pid, restart: found.restart })
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    try {
      await eventually(() => state(proc, table), (s) => s === 'streaming', 60_000, 'streaming')
      writer = mutatingWriter(table, rows) // changes from here on are streamed: every one must arrive
      await new Promise((r) => setTimeout(r, 1_000))
      const before = slotSeen.length
      await promisify(execFile)(process.execPath, ['bin/rowcast.mjs', 'resync', '--config', config, '--sync', table], { timeout: 90_000 })
      await eventually(() => backfillState(table), (s) => s === 'pending' || s === 'done', 30_000, 'resync picked up')
      await eventually(() => backfillState(table), (s) => s === 'done', 120_000, 'resync recorded as done')
      await new Promise((r) => setTimeout(r, 1_000))
      const commits = await writer.stop()
      writer = null
      watching = false
      await watcher
      const wrong = await eventually(() => verdict(table, consumer.messages), (w) => w.length === 0, 60_000, 'last message per key equals PostgreSQL').catch(() => verdict(table, consumer.messages))
      // No change lost: every update's n for a live row arrived (n counts its changes since the daemon started).
      const final = new Map(((await sql(env, `SELECT id, n FROM ${table}`)).rows as { id: number; n: number }[]).map((r) => [r.id, r.n]))
      const seen = new Map<number, Set<number>>()
      for (const m of consumer.messages) {
        const v = JSON.parse(m.value) as { id: number; n: number; lsn: string }
        if (v.lsn === '0/0') continue // snapshot rows: the state, not a change
        let set = seen.get(v.id)
        if (set === undefined) seen.set(v.id, (set = new Set()))
        set.add(v.n)
      }
      const lost: string[] = []
      for (const [id, n] of final) for (let i = 1; i <= n; i++) if (!(seen.get(id)?.has(i) ?? false)) lost.push(`${id}:${i}`)
      const gone = slotSeen.slice(before).filter((s) => s.restart === null).length
      const resent = consumer.messages.filter((m) => (JSON.parse(m.value) as { lsn: string }).lsn === '0/0').length
      t.diagnostic(`${commits} writer transactions, ${resent} rows re-sent by the resync, ${lost.length} changes lost, ${wrong.length} keys wrong, slot missing in ${gone} of ${slotSeen.length - before} looks`)
      assert.equal(gone, 0, 'the slot was never dropped during the resync')
      assert.deepEqual(lost.slice(0, 10), [], `${lost.length} committed changes never reached Kafka`)
      assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} keys whose last message is not the row in PostgreSQL`)
      assert.ok(resent >= final.size - commits, `the resync re-sent the rows (${resent} of ${final.size})`)
    } finally {
      watching = false
      await watcher
      await writer?.stop()
      await proc.kill('SIGKILL')
      await consumer.stop()
      await dropSlotWhenFree(env, slot)
    }
  })
})
