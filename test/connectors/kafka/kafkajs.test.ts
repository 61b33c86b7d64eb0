import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire, Module } from 'node:module'
import { groupMessagesPerPartition } from '../../../connectors/kafka/kafkajs.ts'

const require = createRequire(import.meta.url)
const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')

/** kafkajs' own grouping, compiled from its file (the cache holds ours). */
function kafkajsOwnGrouping(): typeof groupMessagesPerPartition {
  const module = new Module(file) as Module & { _compile(source: string, file: string): void }
  module._compile(readFileSync(file, 'utf8'), file)
  return module.exports as typeof groupMessagesPerPartition
}

test("kafkajs' producer uses the linear grouping once rowcast's kafkajs module is loaded", () => {
  assert.equal(require(file), groupMessagesPerPartition)
})

test('the linear grouping gives what kafkajs gives: same partitions, same order', () => {
  const own = kafkajsOwnGrouping()
  assert.notEqual(own, groupMessagesPerPartition)
  const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }, { partitionId: 3 }, { partitionId: 4 }]
  const messages = Array.from({ length: 2_000 }, (_, i) => ({ key: `k${(i * 7919) % 613}`, value: String(i) }))
  const partitioner = ({ message }: { message: unknown }) => Number((message as { key: string }).key.slice(1)) % 5
  for (const input of [messages, messages.slice(0, 1), []]) {
    assert.deepEqual(groupMessagesPerPartition({ topic: 't', partitionMetadata, messages: input, partitioner }), own({ topic: 't', partitionMetadata, messages: input, partitioner }))
  }
  assert.deepEqual(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner }), {}, 'no metadata: nothing grouped, as in kafkajs')
})
