import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { checkDelivery } from '../support/delivery-check.ts'
import { lastByKey } from '../support/last-message-verdict.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, startWriter, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

/**
 * The upgrade into a stream group: syncs that streamed from slots of their own (stream: dedicated, as earlier
 * versions did) restart shared. Each old slot is read up to the hand-off, the group's stream goes on from there,
 * and the old slots are dropped once that is delivered: nothing lost, nothing re-sent beyond what the SIGKILL
 * left unconfirmed.
 */

const PAD = 'x'.repeat(3_000)
const KEYS = 8

function syncYaml(name: string, stream: 'dedicated' | 'shared'): string {
  return `  - name: ${name}
    stream: ${stream}
    model: { table: ${name}, columns: [id, n, pad] }
    topic: ${name}
    message: { format: json, mapping: { id: id, n: n } }
`
}

function configFile(env: StackEnv, names: readonly string[], stream: 'dedicated' | 'shared', group: string, port: number, topicOf = (name: string) => name): string {
  const file = writeConfig(env, names.map((name) => syncYaml(name, stream).replace(`topic: ${name}`, `topic: ${topicOf(name)}`)).join(''), port)
  writeFileSync(file, readFileSync(file, 'utf8')
    .replace(/^ {4}streamGroup: .*$/m, `    streamGroup: { slot: ${group} }`)
    .replace(/^syncs:/m, 'limits:\n  maxInFlightMessages: 50\n  maxBatchRows: 20\nsyncs:'))
  return file
}

async function streamingAll(proc: RowcastProcess, names: readonly string[]): Promise<void> {
  await eventually(() => proc.states(), (s) => names.every((name) => s?.[name] === 'streaming'), 60_000, 'the syncs streaming').catch((error: Error) => {
    throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
  })
}

async function finalsOf(env: StackEnv, names: readonly string[]): Promise<Map<string, Map<number, number>>> {
  const finals = new Map<string, Map<number, number>>()
  for (const name of names) {
    const { rows } = await sql(env, `SELECT id, n FROM ${name}`)
    finals.set(name, new Map(rows.map((r: { id: number; n: number }) => [r.id, r.n])))
  }
  return finals
}

async function createTables(env: StackEnv, names: readonly string[]): Promise<void> {
  for (const name of names) {
    await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `INSERT INTO ${name} SELECT g, 0, $1 FROM generate_series(1, ${KEYS}) g`, [PAD])
  }
}

describe('upgrade from per-sync slots into a stream group', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('3 dedicated syncs SIGKILLed under writes, restarted shared: nothing lost, per key in order, re-sent only what was unconfirmed, old slots dropped', { timeout: 180_000 }, async (t) => {
    const group = uniqueName('grp')
    const names = [uniqueName('ua'), uniqueName('ub'), uniqueName('uc')]
    await createTables(env, names)
    await createTopics(env, names, 1)
    const port = await freePort()
    const oldSlots = names.map((name) => `rowcast_${name}`)
    let proc = spawnRowcast(configFile(env, names, 'dedicated', group, port), port)
    let writers: ReturnType<typeof startWriter>[] = []
    const consumer = await consume(env, names)
    try {
      await streamingAll(proc, names)
      writers = names.map((name) => startWriter(env, name, KEYS, 2))
      await eventually(() => names.map((name) => consumer.messages.filter((m) => m.topic === name).length), (n) => n.every((x) => x > 100), 60_000, 'each dedicated sync to deliver')
      await proc.kill('SIGKILL')
      // Writes go on while rowcast is down: the old slots hold them.
      await new Promise((r) => setTimeout(r, 2_000))
      const held = await sql(env, 'SELECT slot_name FROM pg_replication_slots WHERE slot_name = ANY($1) ORDER BY slot_name', [oldSlots])
      assert.deepEqual(held.rows.map((r: { slot_name: string }) => r.slot_name), [...oldSlots].sort(), 'each sync had its own slot')

      proc = spawnRowcast(configFile(env, names, 'shared', group, port), port)
      await streamingAll(proc, names)
      const startLog = proc.logs() // before the tail moves on
      await new Promise((r) => setTimeout(r, 3_000)) // writes go on across the move
      for (const writer of writers) await writer.stop()
      const finals = await finalsOf(env, names)
      const of = (topic: string) => consumer.messages.filter((m) => m.topic === topic)
      await eventually(() => names.map((name) => checkDelivery(of(name), finals.get(name)!).missing.length), (left) => left.every((n) => n === 0), 90_000, 'every change of every sync (missing per sync)').catch((error: Error) => {
        throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
      })
      for (const name of names) {
        const report = checkDelivery(of(name), finals.get(name)!)
        assert.deepEqual({ missing: report.missing, outOfOrder: report.outOfOrder }, { missing: [], outOfOrder: [] }, `sync ${name}`)
        // The verdict per key: its last message is the row as PostgreSQL holds it.
        const last = lastByKey(of(name))
        assert.deepEqual([...finals.get(name)!].filter(([id, n]) => last.get(id)?.n !== n), [], `sync ${name}: keys whose last message is not the row`)
        // Sent again: only what the SIGKILL left delivered but unconfirmed (in flight: maxInFlightMessages 50, overshot
        // by at most one batch of maxBatchRows 20). The move itself re-sends nothing: the old slot stops before the
        // hand-off, the group's stream starts there.
        t.diagnostic(`sync ${name}: ${report.delivered} messages for ${report.written} changes, ${report.duplicates} duplicates`)
        assert.ok(report.duplicates <= 100, `sync ${name}: ${report.duplicates} duplicates`)
      }
      // The old slots and publications are gone once the group has passed them; each sync now reads the group's slot.
      await eventually(async () => (await sql(env, 'SELECT slot_name FROM pg_replication_slots WHERE slot_name = ANY($1)', [oldSlots])).rows.length, (n) => n === 0, 30_000, 'the old slots to be dropped')
      const publications = await sql(env, 'SELECT pubname FROM pg_publication WHERE pubname = ANY($1)', [oldSlots])
      assert.deepEqual(publications.rows, [], 'the per-sync publications are dropped')
      const state = await sql(env, 'SELECT sync, slot FROM _rowcast.sync_state WHERE sync = ANY($1)', [names])
      assert.deepEqual(state.rows.map((r: { slot: string }) => r.slot), names.map(() => group))
      const upgrades = await sql(env, 'SELECT sync FROM _rowcast.slot_upgrades WHERE sync = ANY($1) AND finished_at IS NOT NULL', [names])
      assert.equal(upgrades.rows.length, names.length, 'each move is recorded as done')
      // It says what it did: one line per sync naming the old slot, its position and the group.
      const lines = startLog.split('\n').filter((line) => line.includes('moves from its own replication slot'))
      for (const name of names) {
        const line = lines.map((l) => JSON.parse(l) as { sync: string; oldSlot: string; position: string; group: string }).find((l) => l.sync === name)
        assert.ok(line !== undefined && line.oldSlot === `rowcast_${name}` && line.group === group && /^[0-9A-F]+\/[0-9A-F]+$/.test(line.position), `the move of ${name} is logged: ${JSON.stringify(line)}`)
      }
    } finally {
      for (const writer of writers) await writer.stop()
      await consumer.stop()
      await proc.kill('SIGTERM')
      for (const slot of [group, ...oldSlots]) await dropSlotWhenFree(env, slot)
    }
  })
  test('a sync whose own slot vanished while it was down stops loudly instead of joining the group past the gap; resync --sync re-sends it', { timeout: 180_000 }, async () => {
    const group = uniqueName('grp')
    const name = uniqueName('uv')
    await createTables(env, [name])
    await createTopics(env, [name], 1)
    const port = await freePort()
    let proc = spawnRowcast(configFile(env, [name], 'dedicated', group, port), port)
    const consumer = await consume(env, [name])
    try {
      await streamingAll(proc, [name])
      await sql(env, `UPDATE ${name} SET n = 1`)
      await eventually(() => consumer.messages.length, (n) => n >= KEYS, 30_000, 'the dedicated sync to deliver')
      await proc.kill('SIGKILL')
      // While rowcast is down its slot goes (dropped by hand, or lost with a restored server), and rows change.
      await dropSlotWhenFree(env, `rowcast_${name}`)
      await sql(env, `UPDATE ${name} SET n = 2`)
      const file = configFile(env, [name], 'shared', group, port)
      proc = spawnRowcast(file, port)
      await eventually(() => proc.states(), (s) => s?.[name] === 'failed', 60_000, 'the sync to stop').catch((error: Error) => {
        throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
      })
      assert.match(proc.logs(), new RegExp(`PG_SLOT_LOST.*replication slot \\\\"rowcast_${name}\\\\" .*no longer exists.*rowcast resync --sync ${name}`), 'the error names the slot and the way out')
      assert.ok(!consumer.messages.some((m) => (JSON.parse(m.value) as { n: number }).n === 2), 'nothing of after the gap was sent as if nothing was missing')
      await proc.kill('SIGTERM')
      // The way out it names: re-send the model into the group.
      const { execFile } = await import('node:child_process')
      await new Promise<void>((resolve, reject) => execFile(process.execPath, ['bin/rowcast.mjs', 'resync', '--config', file, '--sync', name], { timeout: 60_000 }, (error, stdout, stderr) => (error === null ? resolve() : reject(new Error(`${error.message}\n${stdout}\n${stderr}`)))))
      proc = spawnRowcast(file, port)
      await eventually(() => lastByKey(consumer.messages), (last) => [...Array(KEYS).keys()].every((i) => last.get(i + 1)?.n === 2), 60_000, 'every row re-sent as it stands').catch((error: Error) => {
        throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
      })
    } finally {
      await consumer.stop()
      await proc.kill('SIGTERM')
      for (const slot of [group, `rowcast_${name}`]) await dropSlotWhenFree(env, slot)
    }
  })
  test('stopped in the middle of the move (the old slot not yet drained): the next start drains the rest, then joins the group; nothing lost', { timeout: 180_000 }, async () => {
    const group = uniqueName('grp')
    const [steady, stalled] = [uniqueName('ma'), uniqueName('mb')]
    const names = [steady, stalled]
    await createTables(env, names)
    await createTopics(env, names, 1)
    const port = await freePort()
    const oldSlots = names.map((name) => `rowcast_${name}`)
    // Shared, `stalled` sends to a topic that does not exist yet: what it reads from its old slot cannot be delivered,
    // so its move cannot finish before the SIGKILL.
    const moved = stalled + '_v2'
    const sharedFile = configFile(env, names, 'shared', group, port, (name) => (name === stalled ? moved : name))
    let proc = spawnRowcast(configFile(env, names, 'dedicated', group, port), port)
    let writers: ReturnType<typeof startWriter>[] = []
    const consumer = await consume(env, names)
    let late: Awaited<ReturnType<typeof consume>> | null = null
    try {
      await streamingAll(proc, names)
      writers = names.map((name) => startWriter(env, name, KEYS, 2))
      await eventually(() => names.map((name) => consumer.messages.filter((m) => m.topic === name).length), (n) => n.every((x) => x > 100), 60_000, 'each dedicated sync to deliver')
      await proc.kill('SIGKILL')
      await new Promise((r) => setTimeout(r, 1_000))

      proc = spawnRowcast(sharedFile, port)
      const pending = () => sql(env, 'SELECT sync FROM _rowcast.slot_upgrades WHERE sync = ANY($1) AND finished_at IS NULL ORDER BY sync', [names]).then((r) => r.rows.map((row: { sync: string }) => row.sync))
      // `steady` completes its move; `stalled` has begun its own (its hand-off recorded) but cannot finish it.
      await eventually(pending, (left) => left.length === 1 && left[0] === stalled, 60_000, 'only the stalled sync\'s move to be left').catch((error: Error) => {
        throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
      })
      await proc.kill('SIGKILL')
      const left = await sql(env, 'SELECT slot_name FROM pg_replication_slots WHERE slot_name = ANY($1)', [oldSlots])
      assert.deepEqual(left.rows.map((r: { slot_name: string }) => r.slot_name), [`rowcast_${stalled}`], 'the stalled sync\'s old slot is kept while its move is not delivered')

      await createTopics(env, [moved], 1)
      late = await consume(env, [moved])
      proc = spawnRowcast(sharedFile, port)
      await streamingAll(proc, names)
      const startLog = proc.logs()
      await new Promise((r) => setTimeout(r, 2_000)) // writes go on
      for (const writer of writers) await writer.stop()
      const finals = await finalsOf(env, names)
      // The stalled sync's messages: its old topic's, then the new topic's (after them: a partition further, for the order check).
      const of = (name: string) => [...consumer.messages.filter((m) => m.topic === name), ...(name === stalled ? (late?.messages ?? []).map((m) => ({ ...m, partition: m.partition + 1 })) : [])]
      await eventually(() => names.map((name) => checkDelivery(of(name), finals.get(name)!).missing.length), (n) => n.every((x) => x === 0), 90_000, 'every change of every sync (missing per sync)').catch((error: Error) => {
        throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
      })
      for (const name of names) {
        const report = checkDelivery(of(name), finals.get(name)!)
        assert.deepEqual({ missing: report.missing, outOfOrder: report.outOfOrder }, { missing: [], outOfOrder: [] }, `sync ${name}`)
        assert.ok(report.duplicates <= 100, `sync ${name}: ${report.duplicates} duplicates`)
      }
      assert.match(startLog, new RegExp(`sync \\\\"${stalled}\\\\" goes on moving into stream group \\\\"${group}\\\\": reading its old replication slot`), 'the restart says it goes on with the move')
      await eventually(pending, (p) => p.length === 0, 30_000, 'the move to be done')
      await eventually(async () => (await sql(env, 'SELECT slot_name FROM pg_replication_slots WHERE slot_name = ANY($1)', [oldSlots])).rows.length, (n) => n === 0, 30_000, 'the old slots to be dropped')
    } finally {
      for (const writer of writers) await writer.stop()
      await consumer.stop()
      await late?.stop()
      await proc.kill('SIGTERM')
      for (const slot of [group, ...oldSlots]) await dropSlotWhenFree(env, slot)
    }
  })
})
