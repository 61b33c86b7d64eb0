import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, consume, createTopics, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { caughtUp, finish, sleep } from '../support/sync-helpers.ts'

/** Syncs of logical messages (model.messages): pg_logical_emit_message to Kafka, in commit order, on the real stack. */
describe('logical messages', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await client.connect()
    return client
  }

  const emit = (client: pg.Client, transactional: boolean, prefix: string, content: string | Buffer) =>
    client.query('SELECT pg_logical_emit_message($1, $2, $3::bytea)', [transactional, prefix, typeof content === 'string' ? Buffer.from(content) : content])

  test('transactional messages in commit order, non-transactional ones in stream order; rolled back and other prefixes never', async () => {
    const name = uniqueName('msgs')
    const prefix = `${name}.`
    const all = `${name}_all` // every message of the prefix, content as emitted
    const routed = [`${name}_r1`, `${name}_r2`] // topic and key from fields of the JSON content
    const dead = `${name}_dead`
    await createTopics(env, [all, ...routed, dead], 1)
    await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, note text)`)
    const config = configFor(env, `
  - name: ${name}_a
    model: { messages: { prefix: "${prefix}" } }
    topic: ${all}
    headers: { event: suffix }
  - name: ${name}_b
    model: { messages: { prefix: "${prefix}", fields: [topic, key] } }
    topic: { column: topic }
    key: key
    message: { template: '{"event": "{{row.suffix}}", "body": {{row.content}}, "lsn": "{{event.lsn}}"}' }
    onRowError: { deadLetter: { topic: ${dead} } }`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [all, ...routed, dead])
    const [c1, c2, c3] = [await connect(), await connect(), await connect()]
    try {
      await streaming(daemon)
      const big = (n: number, topic: string) => JSON.stringify({ n, topic, key: `k${n % 2}`, pad: 'x'.repeat(6_000 + n) })
      // c1's transaction emits first but commits last; c2's non-transactional message goes out as it is decoded.
      await c1.query('BEGIN')
      await emit(c1, true, `${prefix}created`, big(1, routed[0]))
      await c1.query(`INSERT INTO ${name} VALUES (1, 'a row of a table no sync follows')`)
      await emit(c2, false, `${prefix}ping`, big(2, routed[1]))
      await c3.query('BEGIN')
      await emit(c3, true, `${prefix}updated`, big(3, routed[0]))
      await emit(c3, true, `${name}x.updated`, big(30, routed[0])) // another prefix (no dot): not ours
      await emit(c3, true, `other.${prefix}created`, big(31, routed[0]))
      await c3.query('COMMIT')
      await c2.query('BEGIN')
      await emit(c2, true, `${prefix}created`, big(40, routed[0]))
      await c2.query('ROLLBACK') // never decoded
      await emit(c1, true, `${prefix}shipped`, big(4, routed[1]))
      await emit(c1, true, `${prefix}bad`, 'not json') // b: a row error (dead letter); a: sent as it is
      await c1.query('COMMIT')
      await emit(c2, true, `${prefix}last`, big(5, routed[1])) // a transaction of its own (autocommit)
      await consumer.waitFor(6 + 5 + 1, 60_000)
      await caughtUp(env, [`${name}_a`, `${name}_b`])
      await sleep(500)

      const order = [2, 3, 1, 4, 'bad', 5]
      const onAll = consumer.messages.filter((m) => m.topic === all)
      assert.deepEqual(onAll.map((m) => (m.value === 'not json' ? 'bad' : (JSON.parse(m.value) as { n: number }).n)), order)
      assert.deepEqual(onAll.map((m) => m.headers.event), ['ping', 'updated', 'created', 'shipped', 'bad', 'last'])
      assert.ok(onAll.every((m) => m.key === null), 'no key unless the sync names one')
      assert.equal(onAll[0].value, big(2, routed[1]), 'the content as it was emitted, byte for byte')

      const byTopic = (topic: string) => consumer.messages.filter((m) => m.topic === topic).map((m) => {
        const value = JSON.parse(m.value) as { event: string; body: { n: number; pad: string }; lsn: string }
        assert.equal(value.body.pad.length, 6_000 + value.body.n)
        assert.match(value.lsn, /^[0-9A-F]+\/[0-9A-F]+$/)
        return `${value.event}:${value.body.n}:${m.key}`
      })
      assert.deepEqual(byTopic(routed[0]), ['updated:3:k1', 'created:1:k1'])
      assert.deepEqual(byTopic(routed[1]), ['ping:2:k0', 'shipped:4:k0', 'last:5:k1'])
      const letters = consumer.messages.filter((m) => m.topic === dead).map((m) => JSON.parse(m.value) as { error: string })
      assert.equal(letters.length, 1)
      assert.match(letters[0].error, new RegExp(`logical message with prefix "${prefix.replace('.', '\\.')}bad" at LSN [0-9A-F]+/[0-9A-F]+ is not JSON \\(.*\\), as model\\.messages\\.fields needs`))
    } finally {
      for (const c of [c1, c2, c3]) await c.end().catch(() => undefined)
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})
