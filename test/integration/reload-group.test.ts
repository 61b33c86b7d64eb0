import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../config/load-config.ts'
import { main } from '../../daemon/cli.ts'
import { configYaml, consume, createTopics, eventually, runDaemon, sql, stack, streaming, uniqueName, type Received } from '../support/harness.ts'
import { caughtUp, dropSyncs, record } from '../support/sync-helpers.ts'
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
  test('a shared sync reloaded (or restarted) as `stream: dedicated` stops loudly (PG_SLOT_LOST naming the group and the ways on), makes no slot, sends nothing past its position; a resync goes on from a slot of its own', { timeout: 120_000 }, async (t) => {
    const group = uniqueName('rgrp')
    const [a, b] = [uniqueName('rd_a'), uniqueName('rd_b')]
    for (const table of [a, b]) await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL)`)
    await createTopics(env, [a, b], 1)
    // `stream` unset: both share the group (the default).
    const syncOf = (table: string, stream = '') => `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id${stream}
    message: { mapping: { id: id, n: n } }
`
    const yamlOf = (bStream: string) => configYaml(env, syncOf(a) + syncOf(b, bStream)).replace(/^ {4}streamGroup: .*$/m, `    streamGroup: { slot: ${group} }`)
    const file = join(mkdtempSync(join(tmpdir(), 'rowcast-dedicated-')), 'rowcast.yaml')
    writeFileSync(file, yamlOf(''))
    const config = parseConfig(readFileSync(file, 'utf8'), process.cwd())
    assert.deepEqual(config.syncs.map((s) => s.stream), ['shared', 'shared'])
    let daemon = await runDaemon(config)
    let states = record(daemon, 'state')
    const consumer = await consume(env, [a, b])
    t.after(async () => {
      await consumer.stop()
      await daemon.stop()
      await dropSlotWhenFree(env, group)
      await dropSyncs(env, [b])
    })
    const insert = (table: string, from: number, to: number) => sql(env, `INSERT INTO ${table} SELECT g, g FROM generate_series(${from}, ${to}) g`)
    const keysOf = (table: string) => consumer.messages.filter((m) => m.topic === table).map((m) => Number(m.key))
    await streaming(daemon)
    await insert(a, 1, 10)
    await insert(b, 1, 10)
    await consumer.waitFor(20)
    await caughtUp(env, [a, b])

    writeFileSync(file, yamlOf('\n    stream: dedicated'))
    await daemon.reload(parseConfig(readFileSync(file, 'utf8'), process.cwd()))
    const failed = await eventually(() => states.find((s) => s.sync === b && s.state === 'failed'), (f) => f !== undefined, 30_000, `${b} failed (states: ${JSON.stringify(states)})`)
    assert.equal(failed?.kind, 'slot-lost')
    assert.match(failed?.reason ?? '', new RegExp(`streamed in stream group "${group}" \\(stream: shared\\) and now reads a slot of its own \\(stream: dedicated\\), "rowcast_${b}", which does not exist`))
    assert.match(failed?.reason ?? '', /confirmed up to [0-9A-F]+\/[0-9A-F]+/)
    assert.match(failed?.reason ?? '', /put `stream: shared` back/)
    assert.match(failed?.reason ?? '', new RegExp(`rowcast resync --sync ${b} --accept-gap`))
    await insert(b, 11, 15) // committed while b is stopped: no slot of its own holds them
    await insert(a, 11, 15)
    await eventually(() => keysOf(a).length, (n) => n === 15, 30_000, `${a} streams on`)
    assert.equal((await sql(env, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`rowcast_${b}`])).rowCount, 0, 'no slot was made without being told')
    assert.deepEqual(keysOf(b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'nothing past its position is claimed delivered')

    // A restart with that config stops it the same way (the reason is decided at each start).
    await daemon.stop()
    daemon = await runDaemon(parseConfig(readFileSync(file, 'utf8'), process.cwd()))
    states = record(daemon, 'state')
    const again = await eventually(() => states.find((s) => s.sync === b && s.state === 'failed'), (f) => f !== undefined, 30_000, `${b} failed after a restart (states: ${JSON.stringify(states)})`)
    assert.match(again?.reason ?? '', new RegExp(`streamed in stream group "${group}" \\(stream: shared\\) and now reads a slot of its own`))
    assert.equal((await sql(env, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`rowcast_${b}`])).rowCount, 0, 'no slot was made at the restart either')

    // Re-sending the model goes on from a slot of its own: every row arrives.
    const out: string[] = []
    assert.equal(await main(['node', 'rowcast', 'resync', '--config', file, '--sync', b], (l) => out.push(l)), 0, out.join('\n'))
    await eventually(() => new Set(keysOf(b)).size, (n) => n === 15, 60_000, `${b} re-sent from a slot of its own`)
    assert.equal((await sql(env, 'SELECT slot FROM _rowcast.sync_state WHERE sync = $1', [b])).rows[0]?.slot, `rowcast_${b}`)
    await insert(b, 16, 16)
    await eventually(() => keysOf(b).includes(16), (seen) => seen, 30_000, `${b} streams from rowcast_${b}`)
  })
})
