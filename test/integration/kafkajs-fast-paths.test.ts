import { before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, consume, createTopics, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { kafkajsFastPaths } from '../../connectors/kafka/kafkajs/patch.ts'
import { groupMessagesPerPartition } from '../../connectors/kafka/kafkajs/group-messages.ts'

/**
 * The in-process suites test what ships: the harness takes kafkajs through the daemon's install path, so
 * the daemon it runs (and the test's own consumers) use rowcast's grouping and produce request.
 */

const require = createRequire(import.meta.url)

let env: StackEnv
before(async () => {
  env = await stack()
})

test('a daemon run by the harness produces through the kafkajs fast paths, and logs so once', { timeout: 90_000 }, async () => {
  const table = uniqueName('fast_paths')
  const topic = uniqueName('fast_paths')
  await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`)
  await createTopics(env, [topic], 2)
  const lines: { msg: string; grouping?: boolean; produceRequest?: boolean }[] = []
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _encoding, done) => void (lines.push(JSON.parse(chunk.toString())), done()) }))
  const daemon = await runDaemon(configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, name: name } }
`), { logger })
  const consumer = await consume(env, [topic])
  try {
    await streaming(daemon)
    await sql(env, `INSERT INTO ${table} SELECT g, 'row ' || g FROM generate_series(1, 50) g`)
    const messages = await consumer.waitFor(50)
    assert.deepEqual(messages.map((m) => JSON.parse(m.value).id).sort((a: number, b: number) => a - b), Array.from({ length: 50 }, (_, i) => i + 1))
  } finally {
    await consumer.stop()
    await daemon.stop()
  }

  assert.deepEqual(kafkajsFastPaths(), { version: (require('kafkajs/package.json') as { version: string }).version, grouping: true, produceRequest: true, reason: null })
  assert.equal(require.cache[require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')]?.exports, groupMessagesPerPartition, "kafkajs' grouping module is rowcast's")
  const produce: unknown = require.cache[require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js')]?.exports
  assert.equal(typeof produce, 'function')
  assert.match(String(produce), /encodeProduceRequest/, "kafkajs' produce request module is rowcast's (kafkajs' own builds topicEncoder)")
  const logged = lines.filter((l) => l.msg.startsWith('kafkajs fast paths'))
  assert.deepEqual(logged.map(({ msg, grouping, produceRequest }) => ({ msg, grouping, produceRequest })), [{ msg: 'kafkajs fast paths active: grouping, produce request', grouping: true, produceRequest: true }])
})
