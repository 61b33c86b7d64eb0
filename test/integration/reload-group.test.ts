import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, uniqueName, type Received } from '../support/harness.ts'
import { wrongKeys } from '../support/last-message-verdict.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, startMixedWriter, writeConfig } from '../support/rowcast-process.ts'
import { parseLsn } from '../../core/lsn.ts'

/**
 * Syncs join and leave a running stream group on a reload (`kill -HUP`, the shipped CLI): a shared sync added
 * with `initialSync: backfill` reads its table beside the group's stream (no new slot) while a writer changes
 * every table; the group's other syncs lose nothing; a shared sync removed stops, and the slot no longer waits
 * for it.
 */
const ROWS = 1_500

describe('config reload of a stream group (SIGHUP)', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  function syncYaml(table: string, initialSync: 'backfill' | 'skip', extra = ''): string {
    return `
  - name: ${table}
    stream: shared
    model: { table: public.${table} }
    topic: ${table}
    key: id
    initialSync: ${initialSync}
    snapshot: { chunkRows: 500 }
    message:
      template: '{"id": {{row.id}}, "n": {{row.n}}, "type": "{{event.type}}"${extra}}'
`
  }

  /** Keys whose last message is not the row in PostgreSQL. */
  async function verdict(table: string, messages: readonly Received[]): Promise<string[]> {
    const rows = (await sql(env, `SELECT id, n FROM ${table}`)).rows as { id: number; n: number }[]
    return wrongKeys(new Map(rows.map((r) => [r.id, r.n])), messages.filter((m) => m.topic === table))
  }

  function logLines(logs: string, msg: string): Record<string, unknown>[] {
    return logs.split('\n').filter((l) => l.includes(`"msg":"${msg}`)).map((l) => JSON.parse(l) as Record<string, unknown>)
  }

  /** The slots this test's syncs could have: the group's, or one of their own (other test files make slots meanwhile). */
  const slotsOf = async (group: string, syncs: readonly string[]) =>
    (await sql(env, 'SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1 OR slot_name = ANY($2) ORDER BY slot_name', [group, syncs.map((s) => `rowcast_${s}`)])).rows.map((r: { slot_name: string }) => r.slot_name)

  test('a shared sync added backfills beside the running group (no new slot, the others lose nothing); one removed no longer holds the slot', { timeout: 300_000 }, async (t) => {
    const group = uniqueName('rgrp')
    const [a, b, c] = [uniqueName('rg_a'), uniqueName('rg_b'), uniqueName('rg_c')]
    for (const table of [a, b, c]) {
      // Rows of 4 KiB: the added sync's backfill is larger than one Kafka request.
      await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
      await sql(env, `INSERT INTO ${table} SELECT g, 0, repeat(md5(g::text), 128) FROM generate_series(1, ${ROWS}) g`)
    }
    await createTopics(env, [a, b, c])
    const port = await freePort()
    const file = writeConfig(env, syncYaml(a, 'backfill') + syncYaml(b, 'backfill'), port)
    const original = readFileSync(file, 'utf8').replace(/^ {4}streamGroup: .*$/m, `    streamGroup: { slot: ${group} }`)
    writeFileSync(file, original)
    const consumer = await consume(env, [a, b, c])
    const proc = spawnRowcast(file, port)
    t.after(async () => {
      await proc.kill('SIGKILL')
      await consumer.stop()
      await dropSlotWhenFree(env, group)
    })
    await eventually(() => proc.states(), (s) => s?.[a] === 'streaming' && s[b] === 'streaming', 60_000, `${a} and ${b} streaming`)
    assert.deepEqual(await slotsOf(group, [a, b, c]), [group])
    const writes = startMixedWriter(env, [a, b, c], ROWS)
    try {
      // A third shared sync joins the running group: its table is read in chunks beside the group's stream.
      writeFileSync(file, original + syncYaml(c, 'backfill'))
      proc.signal('SIGHUP')
      await eventually(() => proc.states(), (s) => s?.[c] === 'streaming', 60_000, `${c} streaming after SIGHUP\n${proc.logs()}`)
      await eventually(async () => (await sql(env, 'SELECT backfill FROM _rowcast.sync_state WHERE sync = $1', [c])).rows[0]?.backfill as string | undefined, (s) => s === 'done', 120_000, `${c} backfill done`)
      await new Promise((r) => setTimeout(r, 1_000)) // writes go on after the backfill too
    } finally {
      await writes.stop()
    }
    for (const table of [a, b, c]) {
      const wrong = await eventually(() => verdict(table, consumer.messages), (w) => w.length === 0, 60_000, `${table}: last message per key equals PostgreSQL`).catch(() => verdict(table, consumer.messages))
      assert.deepEqual(wrong.slice(0, 10), [], `${table}: ${wrong.length} keys whose last message is not the row in PostgreSQL`)
    }
    assert.deepEqual(await slotsOf(group, [a, b, c]), [group], 'no slot was created for the sync that joined')
    const senders = await sql(env, 'SELECT count(*)::int AS n FROM pg_stat_replication s JOIN pg_replication_slots r ON r.active_pid = s.pid WHERE r.slot_name = $1', [group])
    assert.equal((senders.rows[0] as { n: number }).n, 1, 'one walsender for the group')
    const reloaded = logLines(proc.logs(), 'config reloaded')
    assert.deepEqual(reloaded.map((l) => [l.added, l.changed, l.removed]), [[[c], [], []]], 'the running syncs were neither restarted nor stopped')

    // Remove b: it stops; the slot no longer waits for its position; its table leaves the group's publication.
    // Change a (its message): drained and started anew from its cursor, which holds the slot in between.
    writeFileSync(file, original.slice(0, original.indexOf(`  - name: ${a}`)) + syncYaml(a, 'backfill', ', "v": 2') + syncYaml(c, 'backfill'))
    proc.signal('SIGHUP')
    await eventually(() => logLines(proc.logs(), 'config reloaded'), (l) => l.length === 2, 30_000, 'second reload logged')
    assert.deepEqual(logLines(proc.logs(), 'config reloaded').map((l) => [l.added, l.changed, l.removed])[1], [[], [a], [b]])
    await eventually(() => proc.states(), (s) => s !== null && s[b] === undefined && s[a] === 'streaming' && s[c] === 'streaming', 30_000, `${b} gone, the others streaming`)
    const left = parseLsn(((await sql(env, 'SELECT confirmed_lsn::text AS lsn FROM _rowcast.sync_state WHERE sync = $1', [b])).rows[0] as { lsn: string }).lsn)
    const seenOfB = consumer.messages.filter((m) => m.topic === b).length
    await sql(env, `UPDATE ${b} SET n = n + 100 WHERE id <= 10`)
    await sql(env, `UPDATE ${a} SET n = n + 100 WHERE id <= 10`)
    await sql(env, `UPDATE ${c} SET n = n + 100 WHERE id <= 10`)
    for (const table of [a, c]) {
      const wrong = await eventually(() => verdict(table, consumer.messages), (w) => w.length === 0, 30_000, `${table} after ${b} left`).catch(() => verdict(table, consumer.messages))
      assert.deepEqual(wrong.slice(0, 10), [], `${table} after ${b} left: ${wrong.length} keys wrong`)
    }
    await eventually(async () => parseLsn(((await sql(env, 'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [group])).rows[0] as { lsn: string }).lsn), (slot) => slot > left, 30_000, `the slot to move past where ${b} left (${left})`)
    assert.equal(consumer.messages.filter((m) => m.topic === b).length, seenOfB, `${b} delivers nothing after it was removed`)
    assert.ok(consumer.messages.some((m) => m.topic === a && m.value.includes('"v": 2')), `${a} uses its new message`)
    const published = await sql(env, 'SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY tablename', [group])
    assert.deepEqual(published.rows.map((r: { tablename: string }) => r.tablename), [a, c].sort(), `the group's publication holds the tables of its syncs`)
    assert.equal(proc.exitCode(), null, 'the daemon still runs')
  })

  test('a transaction that wrote the table before it joined the group\'s publication, committing after: its changes reach the joining sync', { timeout: 120_000 }, async (t) => {
    const group = uniqueName('rgrp')
    const [a, c] = [uniqueName('rj_a'), uniqueName('rj_c')]
    for (const table of [a, c]) {
      await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
      await sql(env, `INSERT INTO ${table} SELECT g, 0, repeat(md5(g::text), 128) FROM generate_series(1, 300) g`)
    }
    await createTopics(env, [a, c])
    const port = await freePort()
    const file = writeConfig(env, syncYaml(a, 'backfill'), port)
    const original = readFileSync(file, 'utf8').replace(/^ {4}streamGroup: .*$/m, `    streamGroup: { slot: ${group} }`)
    writeFileSync(file, original)
    const consumer = await consume(env, [a, c])
    const proc = spawnRowcast(file, port)
    const open = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await open.connect()
    t.after(async () => {
      await open.end().catch(() => undefined)
      await proc.kill('SIGKILL')
      await consumer.stop()
      await dropSlotWhenFree(env, group)
    })
    await eventually(() => proc.states(), (s) => s?.[a] === 'streaming', 60_000, `${a} streaming`)
    // A transaction writes the table, then the sync of that table joins the group; the transaction commits after.
    await open.query('BEGIN')
    await open.query(`UPDATE ${c} SET n = n + 1000 WHERE id <= 50`)
    await open.query(`INSERT INTO ${c} VALUES (1000, 7, 'late')`)
    writeFileSync(file, original + syncYaml(c, 'backfill'))
    proc.signal('SIGHUP')
    await eventually(() => sql(env, 'SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND tablename = $2', [group, c]), (r) => r.rowCount === 1, 30_000, `${c} in the group's publication`)
    // Committed once the joining sync waits for it, or (were it not to wait) once its backfill is done.
    const backfilled = async () => (await sql(env, 'SELECT backfill FROM _rowcast.sync_state WHERE sync = $1', [c])).rows[0]?.backfill === 'done'
    await eventually(async () => proc.logs().includes('joined the stream group\'s publication') || (await backfilled()), (ready) => ready, 60_000, `${c} waiting for the open transaction, or backfilled`)
    await open.query('COMMIT')
    await eventually(() => proc.states(), (s) => s?.[c] === 'streaming', 60_000, `${c} streaming`)
    await eventually(backfilled, (done) => done, 60_000, `${c} backfill done`)
    const wrong = await eventually(() => verdict(c, consumer.messages), (w) => w.length === 0, 30_000, `${c}: last message per key equals PostgreSQL`).catch(() => verdict(c, consumer.messages))
    assert.deepEqual(wrong.slice(0, 10), [], `${c}: ${wrong.length} keys whose last message is not the row in PostgreSQL`)
  })
})
