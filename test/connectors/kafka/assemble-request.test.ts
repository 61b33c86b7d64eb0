import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { OutgoingMessage } from '../../../core/changes.ts'
import { assembleRequest } from '../../../connectors/kafka/assemble-request.ts'
import { RECORD_BATCH_OVERHEAD, recordBytes } from '../../../connectors/kafka/message-size.ts'
import type { QueueEntry } from '../../../connectors/kafka/send-queue.ts'

/** Request assembly against fake topic limits: request bounds, and each partition's record batch within its topic's max.message.bytes. */

function message(topic: string, value: string, headers: Record<string, string> | null = null): OutgoingMessage {
  return { change: { type: 'added', table: 't', row: {}, previous: null, key: null, lsn: '0/0' }, value, topic, key: null, partition: null, headers }
}

/** A prepared entry of `messages`, each [topic, partition, value bytes]. */
function entry(messages: [string, number, number][], next = 0): QueueEntry {
  return {
    ticket: 0,
    messages: messages.map(([topic, , bytes]) => message(topic, 'x'.repeat(bytes))),
    sizes: messages.map(([, , bytes]) => bytes),
    partitions: messages.map(([, partition]) => partition),
    next,
    commitTime: 0,
    commitLsn: 1n,
    txLsn: null,
    txOffset: 0,
    prepared: true,
  }
}

const BIG = { maxRequestMessages: 10_000, maxRequestBytes: 100_000_000 }
/** What a record of `bytes` takes in a batch. */
const record = (bytes: number) => recordBytes(message('t', 'x'.repeat(bytes)), bytes)

test('one partition: the request stops before its batch would outgrow the topic\'s limit', () => {
  const limit = RECORD_BATCH_OVERHEAD + 3 * record(1_000)
  const queue = [entry(Array.from({ length: 10 }, () => ['t', 0, 1_000] as [string, number, number]))]
  const parts = assembleRequest(queue, BIG, () => limit)
  assert.deepEqual(parts.map(({ from, to }) => [from, to]), [[0, 3]], 'exactly three records fit')
  assert.deepEqual(assembleRequest(queue, BIG, () => limit - 1).map(({ to }) => to), [2], 'one byte less: two')
  queue[0].next = 9
  assert.deepEqual(assembleRequest(queue, BIG, () => limit).map(({ from, to }) => [from, to]), [[9, 10]], 'the rest of the entry')
})

test('each partition has its own batch, each topic its own limit; the request stops at the first message that does not fit (order is kept)', () => {
  const limits: Record<string, number> = { a: RECORD_BATCH_OVERHEAD + 2 * record(100), b: 1_000_000 }
  const first = entry([['a', 0, 100], ['a', 1, 100], ['b', 0, 100], ['a', 0, 100], ['a', 1, 100]])
  const second = entry([['b', 0, 100], ['a', 2, 100], ['a', 0, 100], ['b', 0, 100]])
  const parts = assembleRequest([first, second], BIG, (topic) => limits[topic])
  assert.deepEqual(parts.map(({ entry: e, from, to }) => [e === first ? 'first' : 'second', from, to]), [['first', 0, 5], ['second', 0, 2]], 'the third a/0 record stops the request')
})

test('a message alone larger than the limit still goes (preparation made it fit; the broker answers for it)', () => {
  const parts = assembleRequest([entry([['t', 0, 5_000], ['t', 0, 10]])], BIG, () => 1_000)
  assert.deepEqual(parts.map(({ from, to }) => [from, to]), [[0, 1]])
})

test('headers count toward the record\'s size', () => {
  const plain = entry([['t', 0, 100], ['t', 0, 100]])
  const limit = RECORD_BATCH_OVERHEAD + 2 * record(100)
  assert.deepEqual(assembleRequest([plain], BIG, () => limit).map(({ to }) => to), [2])
  const withHeaders = { ...plain, messages: plain.messages.map((m) => ({ ...m, headers: { h: 'v' } })) }
  assert.deepEqual(assembleRequest([withHeaders], BIG, () => limit).map(({ to }) => to), [1])
})

test('the request limits still hold: messages and bytes; unprepared entries end the request', () => {
  const many = entry(Array.from({ length: 10 }, (_v, i) => ['t', i % 3, 10] as [string, number, number]))
  assert.deepEqual(assembleRequest([many], { maxRequestMessages: 4, maxRequestBytes: 1_000 }, () => 1_000_000).map(({ to }) => to), [4])
  assert.deepEqual(assembleRequest([many], { maxRequestMessages: 100, maxRequestBytes: 25 }, () => 1_000_000).map(({ to }) => to), [3])
  const unprepared = { ...entry([['t', 0, 10]]), prepared: false }
  assert.deepEqual(assembleRequest([unprepared, many], BIG, () => 1_000_000), [])
})
