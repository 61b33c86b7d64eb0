import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { ConfigError } from '../../core/errors.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName, type Received } from '../support/harness.ts'
import { caughtUp, currentLsn, record, sleep, slotConfirmed, syncConfirmed, finish } from '../support/sync-helpers.ts'

/** Sync semantics on the real stack: which changes are sent (triggers), and to which topic. */
describe('sync semantics: triggers and topics', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  const summary = (messages: Received[]) => messages.map((m) => { const v = JSON.parse(m.value); return `${v.type}:${v.id}:${v.name}` })

  test('each trigger subset sends exactly its changes; the others are not sent', async () => {
    const table = uniqueName('trig')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`)
    // Each trigger is both kept by some subset and dropped by another (all seven subsets: test/operators/filter-triggers.test.ts).
    const subsets = [['added'], ['changed'], ['changed', 'removed'], ['added', 'removed']]
    const syncs = subsets.map((triggers, i) => ({ name: `${table}_${i}`, topic: `${table}_${i}`, triggers }))
    await createTopics(env, syncs.map((s) => s.topic), 1)
    const template = `'{"type": "{{event.type}}", "id": {{row.id}}, "name": "{{row.name}}"}'`
    const config = configFor(env, syncs.map((s) => `
  - name: ${s.name}
    model: { table: public.${table} }
    triggers: [${s.triggers.join(', ')}]
    topic: ${s.topic}
    message: { template: ${template} }`).join(''))
    const daemon = await runDaemon(config)
    const consumer = await consume(env, syncs.map((s) => s.topic))
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`)
      await sql(env, `UPDATE ${table} SET name = 'a2' WHERE id = 1`)
      await sql(env, `DELETE FROM ${table} WHERE id = 2`)
      await sql(env, `INSERT INTO ${table} VALUES (3, 'c')`)
      const all = ['added:1:a', 'added:2:b', 'changed:1:a2', 'removed:2:', 'added:3:c']
      const expected = subsets.map((triggers) => all.filter((s) => triggers.includes(s.split(':')[0])))
      await consumer.waitFor(expected.flat().length)
      await caughtUp(env, syncs.map((s) => s.name))
      await sleep(500)
      const got = syncs.map((s) => summary(consumer.messages.filter((m) => m.topic === s.topic)))
      assert.deepEqual(got, expected)
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('per-trigger topics: added, changed and removed each go to their own topic', async () => {
    const table = uniqueName('pertrig')
    const [added, changed, removed] = ['added', 'changed', 'removed'].map((t) => `${table}_${t}`)
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`)
    await createTopics(env, [added, changed, removed], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: { added: ${added}, changed: ${changed}, removed: ${removed} }
    message: { template: '{"type": "{{event.type}}", "id": {{row.id}}, "name": "{{row.name}}"}' }`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [added, changed, removed])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`)
      await sql(env, `UPDATE ${table} SET name = 'b2' WHERE id = 2`)
      await sql(env, `DELETE FROM ${table} WHERE id = 1`)
      await consumer.waitFor(4)
      await caughtUp(env, [table])
      await sleep(500)
      const on = (topic: string) => summary(consumer.messages.filter((m) => m.topic === topic))
      assert.deepEqual(on(added), ['added:1:a', 'added:2:b'])
      assert.deepEqual(on(changed), ['changed:2:b2'])
      assert.deepEqual(on(removed), ['removed:1:'])
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('topic from a column: rows go to the topic they name; a topic that does not exist holds the transaction until it is created', async () => {
    const table = uniqueName('coltopic')
    const [t1, t2, missing] = [`${table}_one`, `${table}_two`, `${table}_late`]
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, dest text NOT NULL, name text)`)
    await createTopics(env, [t1, t2], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: { column: dest }
    key: id
    message: { mapping: { id: id, name: name } }`, `
limits: { retryMaxMs: 1000 }`)
    const daemon = await runDaemon(config)
    const states = record(daemon, 'state')
    const consumer = await consume(env, [t1, t2])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, '${t1}', 'a'), (2, '${t2}', 'b'), (3, '${t1}', 'c')`)
      await consumer.waitFor(3)
      const ids = (topic: string) => consumer.messages.filter((m) => m.topic === topic).map((m) => JSON.parse(m.value).id)
      assert.deepEqual(ids(t1), [1, 3])
      assert.deepEqual(ids(t2), [2])

      // One transaction with a row naming a topic that does not exist, then another transaction behind it.
      await sql(env, `BEGIN; INSERT INTO ${table} VALUES (10, '${t1}', 'x'), (11, '${missing}', 'y'), (12, '${t2}', 'z'); COMMIT`)
      const afterHeld = await currentLsn(env)
      await sql(env, `INSERT INTO ${table} VALUES (13, '${t1}', 'w')`)
      const naming = (s: { state: string; reason?: string }) => s.state === 'degraded' && (s.reason ?? '').includes(`"${missing}"`)
      await eventually(() => states, (seen) => seen.some(naming), 20_000, 'a degraded state naming the missing topic')
      assert.match(states.find(naming)?.reason ?? '', /does not exist/)
      assert.equal(daemon.syncs[0].state, 'degraded')
      await sleep(3_000) // heartbeats and status updates run meanwhile: nothing may be sent or confirmed past the held transaction
      assert.equal(consumer.messages.length, 3, 'none of the held transaction\'s messages (nor later ones) are sent')
      // It shares the file's stream group (the default): its cursor, and the group's slot, stay before the transaction.
      const confirmed = await syncConfirmed(env, table)
      assert.ok(confirmed > 0n && confirmed < afterHeld, `the sync is not confirmed past the held transaction (${confirmed} < ${afterHeld})`)
      assert.ok((await slotConfirmed(env, TEST_GROUP)) < afterHeld, 'the group\'s slot is not confirmed past the held transaction')

      await createTopics(env, [missing], 1)
      const late = await consume(env, [missing])
      try {
        await late.waitFor(1)
        await consumer.waitFor(6)
        await caughtUp(env, [table])
        await sleep(500)
        assert.deepEqual(ids(t1), [1, 3, 10, 13], 'in order, nothing lost, nothing twice')
        assert.deepEqual(ids(t2), [2, 12])
        assert.deepEqual(late.messages.map((m) => JSON.parse(m.value)), [{ id: 11, name: 'y' }])
        await eventually(() => daemon.syncs[0].state, (s) => s === 'streaming', 10_000, 'streaming again')
      } finally {
        await late.stop()
      }
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})

describe('sync semantics: per-trigger topic config', () => {
  test('every trigger the sync sends needs a topic: a missing one is a config error at load time, naming it', async () => {
    const env = await stack()
    const sync = (triggers: string) => `
  - name: pertrig_config
    model: { table: public.whatever }
    ${triggers}
    topic: { added: t_added, changed: t_changed }
    message: { column: payload }`
    assert.throws(() => configFor(env, sync('')), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.deepEqual(error.issues.map((i) => i.path), ['syncs[0].topic'])
      assert.match(error.issues[0].message, /no topic for the trigger removed/)
      return true
    })
    assert.doesNotThrow(() => configFor(env, sync('triggers: [added, changed]')))
  })
})
