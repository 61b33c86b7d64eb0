import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { javaPartitions } from '../support/java-partitioner.ts'
import { caughtUp, currentLsn, finish, record, sleep, slotConfirmed, syncConfirmed } from '../support/sync-helpers.ts'

/** Sync semantics on the real stack: key, partition and headers of each message. */
describe('sync semantics: key, partition and headers', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  const KEYS = ['order-1', 'order-2', 'ORDER-1', '', 'a', 'ab', 'abc', 'abcd', '42', '9007199254740993', 'é', 'Grüße', '日本語', '😀', 'a"b\\c', 'new\nline', ...Array.from({ length: 24 }, (_v, i) => `customer-${i * 7919}`)]

  test('a keyed message lands on the partition Kafka\'s Java partitioner picks for its key', async () => {
    const table = uniqueName('keyed')
    const partitions = 5
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, order_id text NOT NULL)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`) // a key: column outside the primary key needs the whole old row (deletes)
    await createTopics(env, [table], partitions)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: order_id
    message: { mapping: { id: id, order_id: order_id } }`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      const values = KEYS.map((_k, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ')
      await sql(env, `INSERT INTO ${table} VALUES ${values}`, KEYS.flatMap((k, i) => [i, k]))
      const messages = await consumer.waitFor(KEYS.length)
      const expected = await javaPartitions(env, partitions, KEYS)
      const byId = new Map(messages.map((m) => [JSON.parse(m.value).id as number, m]))
      assert.equal(byId.size, KEYS.length)
      for (const [i, key] of KEYS.entries()) {
        const m = byId.get(i)
        assert.ok(m !== undefined)
        assert.equal(m.key, key, 'the Kafka key is the column\'s text')
        assert.equal(m.partition, expected[i], `key ${JSON.stringify(key)}: partition ${m.partition}, Java says ${expected[i]}`)
      }
      assert.ok(new Set(expected).size > 1, 'the keys spread over several partitions (else the test proves little)')
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('partition column wins over the key; not a number -> falls back to the key; a partition that does not exist is a row error; headers from columns, NULL means no header', async () => {
    const table = uniqueName('part')
    const topic = table
    const dlq = `${table}_dlq`
    const partitions = 4
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, k text, p text, source text, trace text)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`) // key: k is outside the primary key: deletes need the whole old row
    await createTopics(env, [topic], partitions)
    await createTopics(env, [dlq], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: k
    partition: p
    headers: { x-source: source, x-trace: trace }
    onRowError: { deadLetter: { topic: ${dlq} } }
    message: { mapping: { id: id } }`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [topic, dlq])
    try {
      await streaming(daemon)
      // Keys whose own partition differs from the explicit one, so precedence is visible.
      const keys = ['key-a', 'key-b', 'key-c', 'key-d', 'key-e', 'key-f']
      const byKey = await javaPartitions(env, partitions, keys)
      const explicit = (i: number) => String((byKey[i] + 1) % partitions)
      const rows: [number, string | null, string | null, string | null, string | null][] = [
        [1, keys[0], explicit(0), 'web', 'tr-1'], // partition column wins
        [2, keys[1], ` ${explicit(1)} `, 'web', null], // numeric text, trimmed; NULL header absent
        [3, keys[2], 'not-a-number', null, null], // not castable -> null -> the key decides; no headers at all
        [4, keys[3], null, 'api', 'tr-4'], // NULL -> the key decides
        [5, keys[4], '99', 'web', null], // no such partition -> row error -> dead letter
        [6, keys[5], '-1', 'web', null], // no such partition either
        [7, null, '3', 'web', null], // a partition without a key
      ]
      await sql(env, `INSERT INTO ${table} VALUES ${rows.map((_r, i) => `($${5 * i + 1}, $${5 * i + 2}, $${5 * i + 3}, $${5 * i + 4}, $${5 * i + 5})`).join(', ')}`, rows.flat())
      await consumer.waitFor(rows.length)
      await caughtUp(env, [table])
      await sleep(500)
      const sent = new Map(consumer.messages.filter((m) => m.topic === topic).map((m) => [JSON.parse(m.value).id as number, m]))
      assert.deepEqual([...sent.keys()].sort(), [1, 2, 3, 4, 7])
      const at = (id: number) => sent.get(id)!
      assert.equal(at(1).partition, Number(explicit(0)))
      assert.equal(at(2).partition, Number(explicit(1)))
      assert.equal(at(3).partition, byKey[2])
      assert.equal(at(4).partition, byKey[3])
      assert.equal(at(7).partition, 3)
      assert.equal(at(7).key, null)
      assert.equal(at(1).key, keys[0])
      assert.deepEqual(at(1).headers, { 'x-source': 'web', 'x-trace': 'tr-1' })
      assert.deepEqual(at(2).headers, { 'x-source': 'web' })
      assert.deepEqual(at(3).headers, {})
      assert.deepEqual(at(4).headers, { 'x-source': 'api', 'x-trace': 'tr-4' })

      const dead = consumer.messages.filter((m) => m.topic === dlq).map((m) => ({ ...JSON.parse(m.value), headers: m.headers }))
      assert.deepEqual(dead.map((d) => [d.key, d.reason, d.code]), [['5', 'partition', 'ROW_PARTITION_MISSING'], ['6', 'partition', 'ROW_PARTITION_MISSING']])
      assert.match(dead[0].error, new RegExp(`partition 99 does not exist in topic "${topic}" \\(it has ${partitions}\\)`))
      assert.deepEqual(dead[0].row, { id: 5, k: keys[4], p: '99', source: 'web', trace: null })
      assert.equal(dead[0].headers['rowcast-sync'], table)
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('onRowError fail (the default): a partition that does not exist fails the sync, naming the row, and nothing of its transaction is confirmed', async () => {
    const table = uniqueName('partfail')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, p int)`)
    await createTopics(env, [table], 2)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    partition: p
    message: { mapping: { id: id } }`)
    const daemon = await runDaemon(config)
    const states = record(daemon, 'state')
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 1)`)
      await consumer.waitFor(1)
      await sql(env, `INSERT INTO ${table} VALUES (2, 0), (3, 7)`)
      const after = await currentLsn(env)
      const failed = await eventually(() => states.filter((s) => s.state === 'failed'), (f) => f.length > 0, 20_000, 'a failed state')
      assert.equal(failed[0].kind, 'fatal')
      assert.match(failed[0].reason ?? '', new RegExp(`sync "${table}": row 3 of public\\.${table} \\(added, lsn [0-9A-F/]+\\): partition 7 does not exist in topic "${table}" \\(it has 2\\)`))
      await sleep(2_000) // the sync retries (failedRetryMs 1 s) and fails again on the same row
      assert.deepEqual(consumer.messages.map((m) => JSON.parse(m.value).id), [1], 'row 2 of the failing transaction is not sent either')
      // It shares the file's stream group (the default): its cursor, and the group's slot, stay before the transaction.
      const confirmed = await syncConfirmed(env, table)
      assert.ok(confirmed > 0n && confirmed < after, `the sync is not confirmed past the failing transaction (${confirmed} < ${after})`)
      assert.ok((await slotConfirmed(env, TEST_GROUP)) < after, 'the group\'s slot is not confirmed past the failing transaction')
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})
