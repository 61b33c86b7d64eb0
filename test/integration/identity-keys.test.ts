/**
 * Keys under the default replica identity (issue 14 item 6), on the real stack: a `key:` or `model.primaryKey`
 * outside the replica identity is refused at start-up (deletes would carry no value for it), composite keys are
 * unambiguous JSON arrays, and a `removed` message under the default identity carries the key columns only.
 */
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { caughtUp, finish, record, recordedSlot, sleep } from '../support/sync-helpers.ts'

describe('keys under the default replica identity', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('a key: column or model.primaryKey outside the replica identity stops the sync at start-up, naming path, sync and column', async () => {
    const table = uniqueName('keyident')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, customer int NOT NULL, email text UNIQUE)`)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table}, primaryKey: [email] }
    topic: ${table}
    key: customer
    message: { mapping: { id: id } }`)
    const daemon = await runDaemon(config)
    const states = record(daemon, 'state')
    try {
      const failed = await eventually(() => states.filter((s) => s.state === 'failed'), (f) => f.length > 0, 20_000, 'a failed state')
      const reason = failed[0].reason ?? ''
      assert.equal(failed[0].kind, 'fatal')
      assert.match(reason, /syncs\[0\]\.key: .*"customer".*replica identity/, reason)
      assert.match(reason, /syncs\[0\]\.model\.primaryKey\[0\]: .*"email".*replica identity/, reason)
      assert.match(reason, new RegExp(table))
      const slots = await sql(env, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`rowcast_${table}`])
      assert.equal(slots.rowCount, 0, 'no slot is created for a sync that cannot run')
      assert.equal(await recordedSlot(env, table), null, 'nor does it join its stream group')
    } finally {
      await finish(env, daemon)
    }
  })

  test('under REPLICA IDENTITY FULL the same key: column streams, deletes included, under their key', async () => {
    const table = uniqueName('keyfull')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, customer int NOT NULL)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await createTopics(env, [table], 3)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: customer
    message: { mapping: { id: id } }`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 77)`)
      await sql(env, `DELETE FROM ${table} WHERE id = 1`)
      await consumer.waitFor(2)
      assert.deepEqual(consumer.messages.map((m) => m.key), ['77', '77'])
      assert.equal(consumer.messages[0].partition, consumer.messages[1].partition)
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('composite keys are unambiguous: (\'a,b\',\'c\') and (\'a\',\'b,c\') are two rows, and moving between them is removed + added', async () => {
    const table = uniqueName('compkey')
    const dead = `${table}_dead`
    await sql(env, `CREATE TABLE ${table} (a text, b text, topic text, PRIMARY KEY (a, b))`)
    await createTopics(env, [dead], 1)
    // Every row's topic column is NULL (ROW_TOPIC_MISSING): each change reaches the dead-letter topic with its row key.
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: { column: topic }
    onRowError: { deadLetter: { topic: ${dead} } }
    message: { mapping: { a: a, b: b } }`)
    const daemon = await runDaemon(config)
    const letters = await consume(env, [dead])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES ('a,b', 'c', NULL)`)
      await sql(env, `UPDATE ${table} SET a = 'a', b = 'b,c' WHERE a = 'a,b' AND b = 'c'`)
      await sql(env, `INSERT INTO ${table} VALUES ('["x"]', '', NULL)`)
      await letters.waitFor(4)
      await caughtUp(env, [table])
      await sleep(500)
      const got = letters.messages.map((m) => { const v = JSON.parse(m.value) as { type: string; key: string }; return [v.type, v.key, m.key] })
      assert.deepEqual(got, [
        ['added', '["a,b","c"]', '["a,b","c"]'],
        ['removed', '["a,b","c"]', '["a,b","c"]'],
        ['added', '["a","b,c"]', '["a","b,c"]'],
        ['added', '["[\\"x\\"]",""]', '["[\\"x\\"]",""]'],
      ])
    } finally {
      await letters.stop()
      await finish(env, daemon)
    }
  })

  test('a removed message under the default identity carries the key columns; the others are null (mapping) or "" (template strings)', async () => {
    const table = uniqueName('keyonly')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, score int NOT NULL)`)
    await createTopics(env, [table], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: { mapping: { id: id, name: name, score: score } }`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (7, 'ada', 3)`)
      await sql(env, `DELETE FROM ${table} WHERE id = 7`)
      await consumer.waitFor(2)
      assert.deepEqual(consumer.messages.map((m) => [m.key, JSON.parse(m.value)]), [
        ['7', { id: 7, name: 'ada', score: 3 }],
        ['7', { id: 7, name: null, score: null }],
      ])
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})
