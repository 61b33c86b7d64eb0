import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { randomBytes } from 'node:crypto'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { currentLsn, slotConfirmed } from '../support/sync-helpers.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, writeConfig } from '../support/rowcast-process.ts'

/**
 * Delivery when something goes wrong that touches only rowcast's own processes, tables and slots (faults.test.ts
 * has the faults of the stack itself): a sync that filters out every change, TOAST values, two daemons with one
 * config and the active one SIGKILLed. They run beside the other test files.
 */

describe('delivery under faults of rowcast alone (rowcast in process and as child processes)', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('a sync whose triggers filter out every change still advances its slot (heartbeats)', { timeout: 60_000 }, async () => {
    const table = uniqueName('filtered')
    const other = uniqueName('unrelated')
    const topic = uniqueName('filtered')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`)
    await sql(env, `CREATE TABLE ${other} (id int PRIMARY KEY)`)
    await createTopics(env, [topic])
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    triggers: [removed]
    message: { mapping: { id: id } }
`)
    const daemon = await runDaemon(config)
    const slot = TEST_GROUP // the sync shares the file's stream group (the default): the group's slot moves
    try {
      await streaming(daemon)
      let produced = 0
      daemon.telemetry.on('produced', (p) => void (produced += p.count))
      const before = await slotConfirmed(env, slot)
      await sql(env, `INSERT INTO ${table} SELECT g, 'x' FROM generate_series(1, 500) g`)
      const afterInserts = await currentLsn(env)
      await eventually(() => slotConfirmed(env, slot), (lsn) => lsn >= afterInserts, 15_000, 'slot past the filtered inserts')
      // WAL of a table outside the publication: the slot moves past it too (heartbeat messages every 1 s
      // here, and keep-alive positions confirmed while nothing is in flight).
      await sql(env, `INSERT INTO ${other} SELECT generate_series(1, 100)`)
      const afterOther = await currentLsn(env)
      await eventually(() => slotConfirmed(env, slot), (lsn) => lsn >= afterOther, 15_000, 'slot past unrelated WAL')
      assert.equal(produced, 0, 'nothing was sent: every change was filtered')
      assert.ok((await slotConfirmed(env, slot)) > before)
    } finally {
      await daemon.stop()
      await dropSlotWhenFree(env, slot)
    }
  })

  test('TOAST: with REPLICA IDENTITY FULL an update resends the large value; without, under unchangedToast: error, a row error (never an empty value; the default reads it back: unchanged-toast.test.ts)', { timeout: 60_000 }, async () => {
    const full = uniqueName('toast_full')
    const plain = uniqueName('toast_plain')
    const topicFull = uniqueName('toast_full')
    const topicPlain = uniqueName('toast_plain')
    const deadLetters = uniqueName('toast_dlq')
    const big = randomBytes(16_000).toString('base64') // ~21 kB, incompressible: stored out of line
    for (const table of [full, plain]) {
      await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, big text NOT NULL)`)
    }
    await sql(env, `ALTER TABLE ${full} REPLICA IDENTITY FULL`)
    await createTopics(env, [topicFull, topicPlain, deadLetters])
    const config = configFor(env, `
  - name: ${full}
    model: { table: public.${full} }
    topic: ${topicFull}
    key: id
    message: { mapping: { id: id, n: n, big: big } }
  - name: ${plain}
    model: { table: public.${plain}, unchangedToast: error }
    topic: ${topicPlain}
    key: id
    onRowError: { deadLetter: { topic: ${deadLetters} } }
    message: { mapping: { id: id, n: n, big: big } }
`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [topicFull, topicPlain, deadLetters])
    try {
      await streaming(daemon)
      for (const table of [full, plain]) {
        await sql(env, `INSERT INTO ${table} VALUES (1, 0, $1)`, [big])
        await sql(env, `UPDATE ${table} SET n = 1 WHERE id = 1`)
      }
      const stored = await sql(env, `SELECT pg_column_size(big) AS size FROM ${full}`)
      assert.ok(stored.rows[0].size > 8_000, `the value is stored large (${stored.rows[0].size} bytes)`)
      await consumer.waitFor(4).catch(() => assert.fail(`expected 4 messages, got ${consumer.messages.map((m) => m.topic).join(', ')}`))
      await new Promise((r) => setTimeout(r, 1_000))
      const on = (topic: string) => consumer.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.value))
      const same = (v: { big?: unknown }) => (v.big === big ? 'the value' : `${typeof v.big} of length ${String(v.big ?? '').length}`)
      assert.deepEqual(on(topicFull).map((v) => [v.n, same(v)]), [[0, 'the value'], [1, 'the value']], 'FULL: the update carries the whole large value')
      assert.deepEqual(on(topicPlain).map((v) => [v.n, same(v)]), [[0, 'the value']], 'without FULL and with unchangedToast: error: only the insert reaches the topic, never an empty value')
      const [dead] = on(deadLetters)
      assert.equal(dead.code, 'ROW_VALUE_UNAVAILABLE')
      assert.equal(dead.type, 'changed')
      assert.equal(on(deadLetters).length, 1)
    } finally {
      await consumer.stop()
      await daemon.stop()
      await dropSlotWhenFree(env, TEST_GROUP)
    }
  })

  test('two daemons with the same config: one streams; SIGKILL it and the other takes over', { timeout: 90_000 }, async () => {
    const table = uniqueName('takeover')
    const topic = uniqueName('takeover')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL)`)
    await createTopics(env, [topic])
    const sync = `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, n: n } }
`
    const ports = [await freePort(), await freePort()]
    const procs = ports.map((port) => spawnRowcast(writeConfig(env, sync, port), port))
    const consumer = await consume(env, [topic])
    try {
      const states = await eventually(
        () => Promise.all(procs.map((p) => p.states())),
        (s) => s.some((x) => x?.[table] === 'streaming') && s.every((x) => x !== null),
        60_000,
        'one daemon streaming',
      )
      await new Promise((r) => setTimeout(r, 3_000)) // the other had time to try the lock
      const again = await Promise.all(procs.map((p) => p.states()))
      assert.equal(again.filter((x) => x?.[table] === 'streaming').length, 1, `exactly one daemon streams: ${JSON.stringify(again)} (first seen ${JSON.stringify(states)})`)
      const leader = again.findIndex((x) => x?.[table] === 'streaming')
      const follower = procs[1 - leader]
      await sql(env, `INSERT INTO ${table} VALUES (1, 1)`)
      await consumer.waitFor(1)
      const killedAt = Date.now()
      await procs[leader].kill('SIGKILL')
      await eventually(() => follower.states(), (s) => s?.[table] === 'streaming', 30_000, 'the other daemon streaming').catch((error: unknown) => assert.fail(`${String(error)}; its log: ${follower.logs().slice(-4_000)}`))
      await sql(env, `INSERT INTO ${table} VALUES (2, 1)`)
      await consumer.waitFor(2, 30_000)
      const takeoverMs = Date.now() - killedAt
      console.log(`takeover: the second daemon delivered a new change ${takeoverMs} ms after the first was SIGKILLed`)
      assert.ok(takeoverMs < 20_000)
      assert.deepEqual(consumer.messages.map((m) => JSON.parse(m.value).id).sort(), [1, 2])
    } finally {
      await consumer.stop()
      for (const p of procs) await p.kill('SIGKILL')
      await dropSlotWhenFree(env, TEST_GROUP)
    }
  })
})
