import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseLsn } from '../../core/lsn.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'

/** The first end-to-end path: rows changed in PostgreSQL arrive in Kafka as the mapping says, in order. */
describe('end to end: PostgreSQL -> rowcast -> Kafka', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('insert, update and delete arrive as added, changed and removed, in commit order per row', async () => {
    const table = uniqueName('users')
    const topic = uniqueName('users')
    await sql(env, `CREATE TABLE ${table} (id int8 PRIMARY KEY, email text, big int8, price numeric, active bool, meta jsonb, tags text[], seen timestamptz, blob bytea)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await createTopics(env, [topic])
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message:
      template: '{"id": {{row.id}}, "email": "{{row.email}}", "big": {{row.big}}, "price": "{{row.price}}", "active": {{row.active}}, "meta": {{row.meta}}, "tags": {{row.tags}}, "seen": "{{row.seen}}", "blob": "{{row.blob}}", "type": "{{event.type}}"}'
`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [topic])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a@example.com', 9007199254740993, 12.50, true, '{"x": [1, {"y": null}]}', '{a,"b c"}', '2024-01-02 03:04:05.123456+00', '\\x0102ff')`)
      await sql(env, `INSERT INTO ${table} (id, email) VALUES (2, 'b"\\\\
x@example.com')`)
      await sql(env, `UPDATE ${table} SET email = 'a2@example.com' WHERE id = 1`)
      await sql(env, `UPDATE ${table} SET email = 'a3@example.com' WHERE id = 1`)
      await sql(env, `DELETE FROM ${table} WHERE id = 2`)
      const messages = await consumer.waitFor(5)
      await new Promise((r) => setTimeout(r, 500))
      assert.equal(consumer.messages.length, 5, 'one message per change')
      const values = messages.map((m) => ({ key: m.key, partition: m.partition, ...JSON.parse(m.value) }))
      const row1 = values.filter((v) => v.id === 1)
      assert.deepEqual(row1.map((v) => [v.type, v.email]), [['added', 'a@example.com'], ['changed', 'a2@example.com'], ['changed', 'a3@example.com']])
      assert.equal(new Set(row1.map((v) => v.partition)).size, 1, 'one key, one partition')
      const first = row1[0]
      assert.equal(first.big, '9007199254740993', 'int8 beyond 2^53 is a string, not a rounded number')
      assert.equal(first.price, '12.50')
      assert.equal(first.active, true)
      assert.deepEqual(first.meta, { x: [1, { y: null }] })
      assert.deepEqual(first.tags, ['a', 'b c'])
      assert.equal(first.seen, '2024-01-02T03:04:05.123456Z')
      assert.equal(first.blob, Buffer.from([1, 2, 255]).toString('base64'))
      assert.equal(first.key, '1')
      const row2 = values.filter((v) => v.id === 2)
      assert.deepEqual(row2.map((v) => v.type), ['added', 'removed'])
      assert.equal(row2[0].email, 'b"\\\\\nx@example.com')
      assert.equal(row2[0].big, null)
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('changes made while the daemon is stopped arrive after it starts again', async () => {
    const table = uniqueName('restart')
    const topic = uniqueName('restart')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`)
    await createTopics(env, [topic], 1) // one partition: the test reads a single commit order
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    message: { mapping: { customer_id: id, customer_name: name } }
`)
    const consumer = await consume(env, [topic])
    try {
      let daemon = await runDaemon(config)
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'before')`)
      await consumer.waitFor(1)
      await daemon.stop()
      await sql(env, `INSERT INTO ${table} VALUES (2, 'while down')`)
      await sql(env, `UPDATE ${table} SET name = 'changed while down' WHERE id = 1`)
      daemon = await runDaemon(config)
      try {
        const messages = await consumer.waitFor(3)
        assert.deepEqual(messages.map((m) => JSON.parse(m.value)), [
          { customer_id: 1, customer_name: 'before' },
          { customer_id: 2, customer_name: 'while down' },
          { customer_id: 1, customer_name: 'changed while down' },
        ])
      } finally {
        await daemon.stop()
      }
      // The sync shares the file's stream group (the default): the group's slot is released, the sync's cursor recorded in it.
      const slot = await eventually(
        () => sql(env, 'SELECT confirmed_flush_lsn::text AS lsn, active FROM pg_replication_slots WHERE slot_name = $1', [TEST_GROUP]),
        (r) => r.rows.length === 1 && r.rows[0].active === false,
        10_000,
        'slot released',
      )
      assert.ok(slot.rows[0].lsn !== null)
      const cursor = await sql(env, 'SELECT slot, confirmed_lsn::text AS lsn FROM _rowcast.sync_state WHERE sync = $1', [table])
      assert.equal(cursor.rows[0]?.slot, TEST_GROUP)
      assert.ok(parseLsn(cursor.rows[0].lsn as string) >= parseLsn(slot.rows[0].lsn as string), 'the slot is confirmed no further than the sync\'s cursor')
    } finally {
      await consumer.stop()
    }
  })
})
