import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, uniqueName, type Received } from '../support/harness.ts'
import { finalsOf, PAD, sharedSyncYaml } from '../support/stream-group-fixtures.ts'
import { watchCommitPositions } from '../support/commit-positions.ts'
import { checkDelivery } from '../support/delivery-check.ts'
import { readFileSync, writeFileSync } from 'node:fs'
import { dropSlotWhenFree, freePort, spawnRowcast, startWriter, writeConfig } from '../support/rowcast-process.ts'
import { memoryLogger } from '../support/sync-helpers.ts'

/**
 * A stream group (`stream: shared`, stream-group.test.ts): a sync that cannot deliver is parked while the others go
 * on, and catches up later; a SIGKILL while the group's syncs stand at different positions loses nothing.
 */

describe('stream group (stream: shared): parking', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('a sync whose topic is missing is parked while the others deliver; once the topic exists it catches up, nothing lost, per key in order', { timeout: 150_000 }, async () => {
    const group = uniqueName('grp')
    const names = [uniqueName('pa'), uniqueName('pb'), uniqueName('pc')]
    for (const name of names) {
      await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
      await sql(env, `INSERT INTO ${name} SELECT g, 0, $1 FROM generate_series(1, 8) g`, [PAD])
    }
    const [missing, ...healthy] = names
    await createTopics(env, healthy, 1)
    const config = configFor(env, names.map((name) => sharedSyncYaml(name, name, name)).join(''), `limits:\n  maxInFlightMessages: 50\n  maxBatchRows: 20\nhttp:\n  port: ${await freePort()}`)
    // Info: the alerts' notices are logged (a trigger at warn, its resolve at info).
    const log = memoryLogger('info')
    const daemon = await runDaemon({ ...config, source: { postgres: { ...config.source.postgres, slotCheckIntervalMs: 500, streamGroup: { slot: group, parkAfterMs: 1_000 } } } }, { logger: log.logger })
    const status = async () => ((await (await fetch(`${daemon.url}/status`)).json()) as { syncs: Record<string, { state: string; parked?: { slot: string; position: string } }> }).syncs
    const alerts = () => log.lines().filter((l) => l.component === 'alerts' && l.kind === 'parked').map((l) => `${l.action as string} ${l.sync as string}: ${l.msg as string}`)
    const retained = new Map<string, number>() // rowcast_slot_retained_wal_bytes, per sync
    daemon.telemetry.on('slotHealth', (e) => void retained.set(e.sync, e.retainedBytes))
    let late: Awaited<ReturnType<typeof consume>> | null = null
    await streaming(daemon, 60_000) // the missing topic shows at the first message
    const writers = names.map((name) => startWriter(env, name, 8, 2))
    const consumer = await consume(env, healthy).catch(async (error: unknown) => {
      await daemon.stop()
      throw error
    })
    try {
      // The missing topic holds its sync's batches; its in-flight bound fills, the group parks it, the others go on.
      const during = consumer.messages.length
      await eventually(() => consumer.messages.filter((m) => m.topic !== missing).length, (n) => n > during + 300, 60_000, 'the healthy syncs to keep delivering')
      const held = async () => {
        const slot = await sql(env, 'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [group])
        const parked = await sql(env, 'SELECT confirmed_lsn::text AS lsn FROM _rowcast.sync_state WHERE sync = $1', [missing])
        return { slot: (slot.rows[0] as { lsn: string }).lsn, parked: (parked.rows[0] as { lsn: string }).lsn }
      }
      // The parked sync holds the slot at its position (PostgreSQL keeps the WAL it needs).
      const cursor = await eventually(held, (p) => p.slot === p.parked, 15_000, 'the slot to stand at the parked sync\'s position')
      // Said in `rowcast status` (GET /status), in the sync's state metric and in an alert naming the sync.
      const shown = await eventually(status, (s) => s[missing]?.state === 'parked', 15_000, 'status to show the sync parked')
      assert.equal(shown[missing].parked?.slot, group)
      assert.deepEqual(healthy.map((name) => shown[name].state), ['streaming', 'streaming'])
      const metrics = await (await fetch(`${daemon.url}/metrics`)).text()
      assert.match(metrics, new RegExp(`rowcast_sync_state\\{sync="${missing}",state="parked"\\} 1`))
      const fired = await eventually(alerts, (a) => a.length >= 1, 15_000, 'the parked alert')
      assert.match(fired[0], new RegExp(`^trigger ${missing}: sync ${missing} is parked .*slot ${group} stays at [0-9A-F]+/[0-9A-F]+ for it, PostgreSQL keeps WAL`))
      assert.ok(!alerts().some((a) => healthy.some((name) => a.includes(` ${name}:`))), 'no other sync is said parked')
      // The WAL kept is the parked sync's, in its metric (and so in `rowcast status` and the retained-WAL alert).
      await eventually(() => healthy.map((name) => (retained.get(missing) ?? 0) - (retained.get(name) ?? 0)), (d) => d.every((x) => x > 0), 15_000, 'the parked sync to retain more WAL than the others')
      await createTopics(env, [missing], 1)
      late = await consume(env, [missing])
      await new Promise((r) => setTimeout(r, 2_000)) // writes go on while it catches up
      for (const writer of writers) await writer.stop()
      const finals = new Map<string, Map<number, number>>()
      for (const name of names) finals.set(name, await finalsOf(env, name))
      const of = (topic: string) => [...consumer.messages, ...(late?.messages ?? [])].filter((m) => m.topic === topic)
      await eventually(() => names.map((name) => checkDelivery(of(name), finals.get(name)!).missing.length), (left) => left.every((n) => n === 0), 90_000, 'every sync, the parked one too, to deliver everything (changes missing per sync)')
      for (const name of names) {
        const report = checkDelivery(of(name), finals.get(name)!)
        assert.deepEqual({ missing: report.missing, outOfOrder: report.outOfOrder }, { missing: [], outOfOrder: [] }, `sync ${name}`)
      }
      // Caught up: the alert resolves, status shows it streaming again.
      await eventually(alerts, (a) => a.some((line) => line.startsWith(`resolve ${missing}: resolved: sync ${missing} is parked`)), 30_000, 'the parked alert to resolve')
      await eventually(status, (s) => s[missing]?.state === 'streaming' && s[missing].parked === undefined, 15_000, 'status to show the sync streaming again')
      // Converged: the slot moves past where the parked sync stood.
      await eventually(async () => (await sql(env, 'SELECT s.confirmed_flush_lsn >= $2::pg_lsn AS passed FROM pg_replication_slots s WHERE slot_name = $1', [group, cursor.parked])).rows[0] as { passed: boolean }, (r) => r.passed, 30_000, 'the slot to pass the parked position')
    } finally {
      for (const writer of writers) await writer.stop()
      await consumer.stop()
      await late?.stop()
      await daemon.stop()
      await dropSlotWhenFree(env, group)
    }
  })
})

describe('stream group under SIGKILL (rowcast as a child process)', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('SIGKILL while the syncs of a group stand at different positions: nothing lost, per key in order, sent again only what was above each sync\'s recorded cursor', { timeout: 180_000 }, async (t) => {
    const group = uniqueName('grp')
    const names = [uniqueName('ka'), uniqueName('kb'), uniqueName('kc')]
    for (const name of names) {
      await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
      await sql(env, `INSERT INTO ${name} SELECT g, 0, $1 FROM generate_series(1, 8) g`, [PAD])
    }
    const [behind, ...ahead] = names
    await createTopics(env, ahead, 1)
    const port = await freePort()
    const file = writeConfig(env, names.map((name) => sharedSyncYaml(name, name, name)).join(''), port)
    // The group's slot, and a sync that cannot deliver parked after 1 s; small in-flight bound.
    writeFileSync(file, readFileSync(file, 'utf8')
      .replace(/^ {4}streamGroup: .*$/m, `    streamGroup: { slot: ${group}, parkAfterMs: 1000 }`)
      .replace(/^syncs:/m, 'limits:\n  maxInFlightMessages: 50\n  maxBatchRows: 20\nsyncs:'))
    const commits = await watchCommitPositions(env)
    let proc = spawnRowcast(file, port)
    let writers: ReturnType<typeof startWriter>[] = []
    let consumer: Awaited<ReturnType<typeof consume>> | null = null
    let late: Awaited<ReturnType<typeof consume>> | null = null
    try {
      await eventually(() => proc.states(), (s) => names.every((name) => s?.[name] === 'streaming'), 60_000, 'the syncs streaming').catch((error: Error) => {
        throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
      })
      writers = names.map((name) => startWriter(env, name, 8, 2))
      consumer = await consume(env, ahead)
      // The sync without a topic is parked at its position; the others go on ahead of it.
      await eventually(() => consumer!.messages.length, (n) => n > 200, 60_000, 'the syncs ahead to deliver')
      const positions = await sql(env, 'SELECT sync, confirmed_lsn FROM _rowcast.sync_state WHERE sync = ANY($1) ORDER BY confirmed_lsn', [names])
      assert.equal((positions.rows[0] as { sync: string }).sync, behind, 'the sync without a topic stands behind')
      await proc.kill('SIGKILL')
      // What each sync had recorded as delivered when it died: nothing at or below it may come again.
      const recorded = await sql(env, 'SELECT sync, confirmed_lsn::text AS cursor FROM _rowcast.sync_state WHERE sync = ANY($1)', [names])
      const cursors = new Map((recorded.rows as { sync: string; cursor: string }[]).map((r) => [r.sync, parseLsn(r.cursor)]))
      await createTopics(env, [behind], 1)
      late = await consume(env, [behind])
      proc = spawnRowcast(file, port)
      await new Promise((r) => setTimeout(r, 3_000)) // writes go on across the restart
      for (const writer of writers) await writer.stop()
      const finals = new Map<string, Map<number, number>>()
      for (const name of names) finals.set(name, await finalsOf(env, name))
      const of = (topic: string) => [...consumer!.messages, ...late!.messages].filter((m) => m.topic === topic)
      await eventually(() => names.map((name) => checkDelivery(of(name), finals.get(name)!).missing.length), (left) => left.every((n) => n === 0), 90_000, 'every change of every sync (missing per sync)').catch((error: Error) => {
        throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
      })
      const committed = await commits.read(names)
      for (const name of names) {
        const report = checkDelivery(of(name), finals.get(name)!)
        assert.deepEqual({ missing: report.missing, outOfOrder: report.outOfOrder }, { missing: [], outOfOrder: [] }, `sync ${name}`)
        // Sent again: only transactions committed above the sync's recorded cursor (delivered, but not yet recorded
        // when it died: in flight, or acknowledged while the cursor's write was under way). Nothing it had recorded.
        const verdict = resentVerdict(of(name), committed.get(name)!, cursors.get(name)!)
        t.diagnostic(`sync ${name}: ${report.delivered} messages for ${report.written} changes, ${report.duplicates} duplicates; recorded cursor at the kill ${formatLsn(cursors.get(name)!)}, lowest commit sent again ${verdict.lowestResent === null ? '-' : formatLsn(verdict.lowestResent)}`)
        assert.deepEqual(verdict.resentBelowCursor, [], `sync ${name}: changes at or below its recorded cursor ${formatLsn(cursors.get(name)!)} sent again`)
        assert.deepEqual(verdict.unknown, [], `sync ${name}: messages of no committed change`)
        assert.equal(verdict.resent, report.duplicates)
        assert.ok(report.duplicates <= 100, `sync ${name}: ${report.duplicates} duplicates`)
      }
    } finally {
      for (const writer of writers) await writer.stop()
      await consumer?.stop()
      await late?.stop()
      await proc.kill('SIGTERM')
      await dropSlotWhenFree(env, group)
      await commits.drop()
    }
  })
})

/**
 * A sync's messages against where each change committed: every message sent more than once must be of a change
 * committed above `cursor` (`resentBelowCursor` lists the others: id:n at its commit end LSN).
 */
function resentVerdict(messages: readonly Received[], committedAt: ReadonlyMap<string, Lsn>, cursor: Lsn): { resent: number; resentBelowCursor: string[]; unknown: string[]; lowestResent: Lsn | null } {
  const seen = new Map<string, number>()
  for (const message of messages) {
    const { id, n } = JSON.parse(message.value) as { id: number; n: number }
    seen.set(`${id}:${n}`, (seen.get(`${id}:${n}`) ?? 0) + 1)
  }
  let resent = 0
  let lowestResent: Lsn | null = null
  const resentBelowCursor: string[] = []
  const unknown: string[] = []
  for (const [key, count] of seen) {
    const at = committedAt.get(key)
    if (at === undefined) unknown.push(key)
    if (count === 1) continue
    resent += count - 1
    if (at !== undefined && (lowestResent === null || at < lowestResent)) lowestResent = at
    if (at !== undefined && at <= cursor) resentBelowCursor.push(`${key} committed at ${formatLsn(at)}`)
  }
  return { resent, resentBelowCursor, unknown, lowestResent }
}
