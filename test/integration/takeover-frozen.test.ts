import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configYaml, consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { checkDelivery, allArrived } from '../support/delivery-check.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * Takeover from a daemon that is alive but frozen (SIGSTOP): its kernel still answers TCP keepalives, so only
 * rowcast's own session liveness (idle_session_timeout on the lock session, wal_sender_timeout on the
 * replication session) frees the sync's lock and slot. Two daemons, one sync, 4 KiB rows written throughout.
 */

const TAKEOVER_TIMEOUT_MS = 5_000
/** takeoverTimeoutMs + the standby's lock poll (2 s) + room for the slot to go inactive and a 2-core machine. */
const TAKEOVER_BOUND_MS = TAKEOVER_TIMEOUT_MS + 2_000 + 10_000

function configFile(env: StackEnv, syncYaml: string, port: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'rowcast-takeover-'))
  const file = join(dir, 'rowcast.yaml')
  const yaml = configYaml(env, syncYaml, { root: `http:\n  port: ${port}` })
    .replace('    statusIntervalMs: 1000\n', `    statusIntervalMs: 1000\n    takeoverTimeoutMs: ${TAKEOVER_TIMEOUT_MS}\n`)
  writeFileSync(file, yaml)
  return file
}

/** Inserts one 4 KiB row per transaction (ids 1, 2, …) until stopped; `written` is the last id whose commit returned (the next may be committed already). */
function startInserter(env: StackEnv, table: string): { written(): number; stop(): Promise<number> } {
  let stopping = false
  let written = 0
  const loop = (async () => {
    const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await client.connect()
    try {
      while (!stopping) {
        await client.query(`INSERT INTO ${table} (id, n, pad) SELECT $1, 1, string_agg(md5(random()::text), '') FROM generate_series(1, 128)`, [written + 1])
        written++
        await new Promise((r) => setTimeout(r, 40))
      }
    } finally {
      await client.end()
    }
  })()
  return {
    written: () => written,
    async stop() {
      stopping = true
      await loop
      return written
    },
  }
}

async function states(procs: readonly RowcastProcess[], sync: string): Promise<(string | undefined)[]> {
  return (await Promise.all(procs.map((p) => p.states()))).map((s) => s?.[sync])
}

describe('takeover from a frozen daemon (SIGSTOP)', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('stream: dedicated: the standby takes over within takeoverTimeoutMs + poll; the thawed daemon does not stream; every row delivered', { timeout: 180_000 }, async () => {
    const table = uniqueName('frozen')
    const topic = uniqueName('frozen')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await createTopics(env, [topic])
    // A sync with its own slot and lock (rowcast_<sync>); the shared default's group takeover is the next test.
    const sync = `
  - name: ${table}
    stream: dedicated
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, n: n, pad: pad } }
`
    const ports = [await freePort(), await freePort()]
    const procs = ports.map((port) => spawnRowcast(configFile(env, sync, port), port))
    const consumer = await consume(env, [topic])
    let stopped: RowcastProcess | null = null
    let inserter: ReturnType<typeof startInserter> | null = null
    try {
      await eventually(() => Promise.all(procs.map((p) => p.states())), (s) => s.some((x) => x?.[table] === 'streaming') && s.every((x) => x !== null), 60_000, 'one daemon streaming')
      inserter = startInserter(env, table)
      await new Promise((r) => setTimeout(r, 3_000))
      const now = await states(procs, table)
      assert.equal(now.filter((x) => x === 'streaming').length, 1, `exactly one daemon streams: ${JSON.stringify(now)}`)
      const leader = now.indexOf('streaming')
      const [active, standby] = [procs[leader], procs[1 - leader]]
      await eventually(() => consumer.messages.length, (n) => n > 10, 30_000, 'rows delivered before the freeze')

      // Freeze the active daemon: its sockets stay open, its kernel answers keepalives.
      process.kill(active.pid, 'SIGSTOP')
      stopped = active
      const frozenAt = Date.now()
      // The insert in flight (id written + 1) may have committed, and been delivered by the frozen daemon, before
      // the freeze: only a later id is proof that the standby streams.
      const lastBeforeFreeze = inserter.written() + 1
      const deliveredAfterFreeze = () => consumer.messages.some((m) => (JSON.parse(m.value) as { id: number }).id > lastBeforeFreeze)
      await eventually(() => deliveredAfterFreeze(), (ok) => ok, TAKEOVER_BOUND_MS + 30_000, 'a row written after the freeze delivered by the standby').catch((error: Error) => {
        throw new Error(`${error.message}\nstandby logs: ${standby.logs().slice(-3_000)}`)
      })
      const takeoverMs = Date.now() - frozenAt
      console.log(`takeover from a frozen daemon: the standby delivered a row written after the freeze ${takeoverMs} ms after SIGSTOP (takeoverTimeoutMs ${TAKEOVER_TIMEOUT_MS})`)
      assert.ok(takeoverMs < TAKEOVER_BOUND_MS, `takeover took ${takeoverMs} ms, bound ${TAKEOVER_BOUND_MS} ms`)
      assert.equal((await standby.states())?.[table], 'streaming')

      // Thaw it: it lost its lock; it must go back to competing, not stream beside the new active daemon.
      process.kill(active.pid, 'SIGCONT')
      stopped = null
      for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, 1_000))
        const s = await states(procs, table)
        assert.notEqual(s[leader], 'streaming', `the thawed daemon streams again: ${JSON.stringify(s)}\nits logs: ${active.logs().slice(-3_000)}`)
        assert.equal(s[1 - leader], 'streaming', `the new active daemon stopped: ${JSON.stringify(s)}`)
      }
      // It noticed that its lock session ended and went back to waiting for the lock (it never waited before).
      await eventually(() => active.logs(), (l) => l.includes('waiting to take over'), 10_000, 'the thawed daemon waiting for the lock').catch((error: Error) => {
        throw new Error(`${error.message}\nits logs: ${active.logs().slice(-3_000)}`)
      })
      const { rows } = await sql(env, 'SELECT count(*)::int AS n FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = $1', [`rowcast_${table}`])
      assert.equal(rows[0].n, 1, 'one walsender streams the slot')

      const written = await inserter.stop()
      inserter = null
      const finals = new Map(Array.from({ length: written }, (_, i) => [i + 1, 1] as [number, number]))
      await eventually(() => consumer.messages, (m) => allArrived(m, finals), 60_000, 'every row in Kafka').catch(() => undefined)
      const report = checkDelivery(consumer.messages, finals)
      console.log(`takeover from a frozen daemon: ${report.written} rows written, ${report.delivered} messages, ${report.duplicates} duplicates, ${report.missing.length} missing`)
      assert.deepEqual(report.missing.slice(0, 20), [], `missing rows (${report.missing.length})`)
      assert.deepEqual(report.outOfOrder, [])
    } finally {
      if (stopped !== null) process.kill(stopped.pid, 'SIGCONT')
      await inserter?.stop().catch(() => undefined)
      await consumer.stop()
      for (const p of procs) await p.kill('SIGKILL')
      await dropSlotWhenFree(env, `rowcast_${table}`, 30_000)
    }
  })

  test('a stream group of 3 syncs: the standby takes the group\'s lock and streams all of them; every row delivered', { timeout: 180_000 }, async () => {
    const group = uniqueName('grp')
    const tables = [uniqueName('fza'), uniqueName('fzb'), uniqueName('fzc')]
    for (const table of tables) await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await createTopics(env, tables)
    const syncs = tables.map((table) => `
  - name: ${table}
    stream: shared
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: { mapping: { id: id, n: n } }
`).join('')
    const ports = [await freePort(), await freePort()]
    const files = ports.map((port) => configFile(env, syncs, port))
    for (const file of files) writeFileSync(file, readFileSync(file, 'utf8').replace(/^ {4}streamGroup: .*$/m, `    streamGroup: { slot: ${group} }`))
    const procs = ports.map((port, i) => spawnRowcast(files[i]!, port))
    const consumer = await consume(env, tables)
    let stopped: RowcastProcess | null = null
    let inserters: ReturnType<typeof startInserter>[] = []
    try {
      const streamingIn = (s: Record<string, string> | null) => tables.every((t) => s?.[t] === 'streaming')
      await eventually(() => Promise.all(procs.map((p) => p.states())), (s) => s.some(streamingIn) && s.every((x) => x !== null), 60_000, 'one daemon streaming the group')
      inserters = tables.map((table) => startInserter(env, table))
      await new Promise((r) => setTimeout(r, 3_000))
      const now = await Promise.all(procs.map((p) => p.states()))
      assert.equal(now.filter(streamingIn).length, 1, `one daemon streams the group: ${JSON.stringify(now)}`)
      assert.ok(now.every((s) => streamingIn(s) || tables.every((t) => s?.[t] !== 'streaming')), `a group is streamed by one daemon, whole: ${JSON.stringify(now)}`)
      const leader = now.findIndex(streamingIn)
      const [active, standby] = [procs[leader]!, procs[1 - leader]!]
      await eventually(() => consumer.messages.length, (n) => n > 30, 30_000, 'rows delivered before the freeze')

      process.kill(active.pid, 'SIGSTOP')
      stopped = active
      const lastBeforeFreeze = inserters.map((i) => i.written() + 1) // the insert in flight may be in: see the test above
      const afterFreeze = () => tables.every((table, i) => consumer.messages.some((m) => m.topic === table && (JSON.parse(m.value) as { id: number }).id > lastBeforeFreeze[i]!))
      await eventually(() => afterFreeze(), (ok) => ok, TAKEOVER_BOUND_MS + 30_000, 'rows written after the freeze, in every table, delivered by the standby').catch((error: Error) => {
        throw new Error(`${error.message}\nstandby logs: ${standby.logs().slice(-3_000)}`)
      })
      assert.ok(streamingIn(await standby.states()), 'the standby streams the whole group')
      process.kill(active.pid, 'SIGCONT')
      stopped = null
      await eventually(() => active.logs(), (l) => l.includes('waiting to take over'), 15_000, 'the thawed daemon waiting for the group\'s lock').catch((error: Error) => {
        throw new Error(`${error.message}\nits logs: ${active.logs().slice(-3_000)}`)
      })
      const thawed = await active.states()
      assert.ok(tables.every((t) => thawed?.[t] !== 'streaming'), `the thawed daemon streams again: ${JSON.stringify(thawed)}`)

      const written = await Promise.all(inserters.map((i) => i.stop()))
      inserters = []
      for (const [i, table] of tables.entries()) {
        const finals = new Map(Array.from({ length: written[i]! }, (_, k) => [k + 1, 1] as [number, number]))
        const of = () => consumer.messages.filter((m) => m.topic === table)
        await eventually(of, (m) => allArrived(m, finals), 60_000, `every row of ${table} in Kafka`).catch(() => undefined)
        const report = checkDelivery(of(), finals)
        console.log(`group takeover, ${table}: ${report.written} rows written, ${report.delivered} messages, ${report.duplicates} duplicates, ${report.missing.length} missing`)
        assert.deepEqual(report.missing.slice(0, 20), [], `missing rows of ${table} (${report.missing.length})`)
        assert.deepEqual(report.outOfOrder, [])
      }
    } finally {
      if (stopped !== null) process.kill(stopped.pid, 'SIGCONT')
      for (const inserter of inserters) await inserter.stop().catch(() => undefined)
      await consumer.stop()
      for (const p of procs) await p.kill('SIGKILL')
      await dropSlotWhenFree(env, group, 30_000)
    }
  })
})
