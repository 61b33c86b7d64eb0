import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { OutgoingMessage, RejectedChange } from '../../../core/changes.ts'
import { RowcastError } from '../../../core/errors.ts'
import { messageSize, RECORD_BATCH_OVERHEAD } from '../../../connectors/kafka/message-size.ts'
import { BatchPreparer, type TopicMetadataLookup } from '../../../connectors/kafka/prepare-batch.ts'

/** Batch preparation against a fake cluster: partitions, row errors, missing topics, dead letters. */

/** A cluster of `topics` (name → partition count; max.message.bytes 1 MiB unless given) that records which topics it was asked about. */
function cluster(topics: Record<string, number>, maxMessageBytes: Record<string, number> = {}): TopicMetadataLookup & { asked: string[][] } {
  const asked: string[][] = []
  return {
    asked,
    describe: async (wanted) => {
      asked.push([...wanted])
      return new Map([...wanted].filter((t) => t in topics).map((t) => [t, { partitions: topics[t], maxMessageBytes: maxMessageBytes[t] ?? 1_048_588 }]))
    },
  }
}

function message(fields: Partial<OutgoingMessage> = {}): OutgoingMessage {
  return {
    change: { type: 'added', table: 'public.orders', row: { id: 1 }, previous: null, key: '1', lsn: '0/16B3748' },
    value: '{"id":1}',
    topic: 'orders',
    key: null,
    partition: null,
    headers: null,
    ...fields,
  }
}

/** A preparer whose row-error policy is `policy`; the rejections it saw are recorded. */
function preparer(metadata: TopicMetadataLookup, policy: (rejected: RejectedChange) => OutgoingMessage | undefined = () => undefined, maxMessageBytes = 1_000) {
  const rejected: RejectedChange[] = []
  const prep = new BatchPreparer({ metadata, maxMessageBytes, rowError: (r) => (rejected.push(r), policy(r)) })
  return { prep, rejected }
}

/** Kafka's own murmur2 of these keys (org.apache.kafka.common.utils.UtilsTest#testMurmur2). */
const JAVA_MURMUR2: [string, number][] = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
]

describe('BatchPreparer', () => {
  test('a keyed message goes where Kafka\'s Java partitioner puts it: toPositive(murmur2(key)) % partitions', async () => {
    for (const partitions of [1, 5, 12]) {
      const { prep } = preparer(cluster({ orders: partitions }))
      const prepared = await prep.prepare(JAVA_MURMUR2.map(([key]) => message({ key })))
      assert.deepEqual(prepared.partitions, JAVA_MURMUR2.map(([, hash]) => (hash & 0x7fffffff) % partitions))
    }
  })

  test('messages without key or partition go round robin, per topic, continuing across batches', async () => {
    const { prep } = preparer(cluster({ orders: 3, audit: 2 }))
    const first = await prep.prepare([message(), message(), message({ topic: 'audit' }), message(), message({ topic: 'audit' }), message({ topic: 'audit' })])
    assert.deepEqual(first.partitions, [0, 1, 0, 2, 1, 0])
    const second = await prep.prepare([message(), message({ topic: 'audit' })])
    assert.deepEqual(second.partitions, [0, 1])
  })

  test('an explicit partition is kept (before the key); out of range it is a row error', async () => {
    const { prep, rejected } = preparer(cluster({ orders: 3 }))
    const prepared = await prep.prepare([message({ partition: 2, key: 'foobar' }), message({ partition: 3 }), message({ partition: 0 }), message({ partition: -1 })])
    assert.deepEqual(prepared.partitions, [2, 0])
    assert.deepEqual(prepared.messages.map((m) => m.partition), [2, 0])
    assert.deepEqual(rejected.map((r) => [r.reason, (r.error as RowcastError).code]), [['partition', 'ROW_PARTITION_MISSING'], ['partition', 'ROW_PARTITION_MISSING']])
    assert.match(rejected[0].error.message, /partition 3 does not exist in topic "orders" \(it has 3\)/)
  })

  test('a message over maxMessageBytes is a row error; at the limit it is sent', async () => {
    const atLimit = message({ value: 'x'.repeat(100) })
    const over = message({ value: 'x'.repeat(101), key: 'k' })
    const { prep, rejected } = preparer(cluster({ orders: 1 }), () => undefined, messageSize(atLimit))
    const prepared = await prep.prepare([over, atLimit])
    assert.deepEqual(prepared.messages, [atLimit])
    assert.deepEqual(prepared.sizes, [100])
    assert.equal(rejected.length, 1)
    assert.equal(rejected[0].change, over.change)
    assert.equal(rejected[0].reason, 'too-large')
    assert.equal((rejected[0].error as RowcastError).code, 'ROW_MESSAGE_TOO_LARGE')
  })

  test('a topic that does not exist throws KAFKA_TOPIC_MISSING (retriable) naming it, before any row error', async () => {
    const { prep, rejected } = preparer(cluster({ orders: 1 }))
    await assert.rejects(prep.prepare([message({ partition: 5 }), message({ topic: 'nope' }), message({ topic: 'gone' })]), (error: unknown) => {
      assert.ok(error instanceof RowcastError)
      assert.equal(error.code, 'KAFKA_TOPIC_MISSING')
      assert.equal(error.retriable, true)
      assert.match(error.message, /topic "nope", "gone" does not exist/)
      return true
    })
    assert.deepEqual(rejected, [], 'the batch is held, not judged')
  })

  test('a dead letter replacing a message is checked again: its topic must exist, and it gets its own partition', async () => {
    const metadata = cluster({ orders: 3, dead: 4 })
    const deadLetter = (r: RejectedChange): OutgoingMessage => message({ topic: 'dead', key: 'foobar', value: 'x'.repeat(5_000), deadLetter: { reason: r.reason, error: r.error.message } })
    const { prep, rejected } = preparer(metadata, deadLetter)
    const ok = message()
    const prepared = await prep.prepare([ok, message({ partition: 9 })])
    assert.deepEqual(metadata.asked, [['orders'], ['dead']], 'two rounds: the replacement\'s topic is looked up in the second')
    assert.equal(rejected.length, 1, 'a dead letter over maxMessageBytes (but within its topic\'s limit) is sent as it is')
    assert.equal(prepared.messages[0], ok)
    assert.equal(prepared.messages[1].topic, 'dead')
    assert.deepEqual(prepared.partitions, [0, (-790332482 & 0x7fffffff) % 4])
    assert.deepEqual(prepared.sizes, [messageSize(ok), messageSize(prepared.messages[1])])

    const { prep: nowhere } = preparer(cluster({ orders: 3 }), deadLetter)
    await assert.rejects(nowhere.prepare([message({ partition: 9 })]), { code: 'KAFKA_TOPIC_MISSING', message: /topic "dead" does not exist/ })

    const { prep: again, rejected: twice } = preparer(cluster({ orders: 3 }), (r) => (r.reason === 'partition' && twice.length === 1 ? message({ partition: 7 }) : undefined))
    assert.deepEqual((await again.prepare([message({ partition: 9 })])).messages, [], 'a replacement the cluster cannot take goes through the policy again')
    assert.equal(twice.length, 2)
  })

  test('a message whose record batch would be over its topic\'s max.message.bytes is a row error, under the smaller of both limits', async () => {
    const limit = 2_000
    const fits = message({ value: 'x'.repeat(limit - RECORD_BATCH_OVERHEAD - 40) })
    const over = message({ value: 'x'.repeat(limit - RECORD_BATCH_OVERHEAD - 39) })
    const { prep, rejected } = preparer(cluster({ orders: 1 }, { orders: limit }), () => undefined, 1_000_000)
    const prepared = await prep.prepare([fits, over])
    assert.deepEqual(prepared.messages, [fits], 'the record batch overhead is counted')
    assert.equal(rejected.length, 1)
    assert.equal((rejected[0].error as RowcastError).code, 'ROW_MESSAGE_TOO_LARGE')
    assert.match(rejected[0].error.message, /message of 1900 bytes \(2001 as a record batch\) is over the max\.message\.bytes of 2000 of topic "orders"/)
    assert.equal(prep.batchLimit('orders'), limit, 'request assembly learns the topic\'s limit')
    const { prep: lower, rejected: byConfig } = preparer(cluster({ orders: 1 }, { orders: limit }), () => undefined, 500)
    assert.deepEqual((await lower.prepare([fits])).messages, [])
    assert.match(byConfig[0].error.message, /over the limit of 500 bytes/)
  })

  test('a dead letter too large for its topic is sent without the row, saying why; without a smaller form it stops the sync', async () => {
    const metadata = cluster({ orders: 1, dead: 1 }, { orders: 1_000, dead: 1_000 })
    const big = message({ key: 'k', value: 'x'.repeat(5_000) })
    const letter = (r: RejectedChange, withoutRow?: (note: string) => string): OutgoingMessage =>
      message({ topic: 'dead', key: 'k', value: JSON.stringify({ row: 'x'.repeat(5_000) }), deadLetter: { reason: r.reason, error: r.error.message, ...(withoutRow === undefined ? {} : { withoutRow }) } })
    const { prep, rejected } = preparer(metadata, (r) => letter(r, (note) => JSON.stringify({ row: null, omitted: note })), 1_000_000)
    const prepared = await prep.prepare([big, message()])
    assert.equal(rejected.length, 1, 'the row error goes through the policy once')
    assert.equal(prepared.messages.length, 2)
    const sent = JSON.parse(prepared.messages[0].value as string) as { row: null; omitted: string }
    assert.equal(sent.row, null)
    assert.match(sent.omitted, /^row and previous left out: message of \d+ bytes .* over the max\.message\.bytes of 1000 of topic "dead"/)
    assert.equal(prepared.sizes[0], messageSize(prepared.messages[0]))
    assert.equal(prepared.messages[0].deadLetter?.withoutRow, undefined)

    const { prep: stuck } = preparer(cluster({ orders: 1, dead: 1 }, { orders: 1_000, dead: 1_000 }), (r) => letter(r), 1_000_000)
    await assert.rejects(stuck.prepare([big]), (error: unknown) => {
      assert.ok(error instanceof RowcastError)
      assert.equal(error.code, 'ROW_MESSAGE_TOO_LARGE')
      assert.equal(error.retriable, false)
      assert.match(error.message, /the dead letter for row 1 of public\.orders .* cannot be sent even without the row: .*raise max\.message\.bytes of topic "dead"/)
      return true
    })
  })

  test('a row-error policy that fails throws out of prepare', async () => {
    const { prep } = preparer(cluster({ orders: 1 }), () => {
      throw new RowcastError('ROW_PARTITION_MISSING', 'fail policy')
    })
    await assert.rejects(prep.prepare([message({ partition: 1 })]), { message: 'fail policy' })
  })

  test('the messages given are never written to; sizes given are used as they are', async () => {
    const input = [message({ key: 'abc' }), message(), message({ partition: 8 }), message({ partition: 1, headers: { h: 'v' } })].map((m) => Object.freeze(m))
    const copy = structuredClone(input)
    const { prep } = preparer(cluster({ orders: 2 }), () => Object.freeze(message({ topic: 'orders', deadLetter: { reason: 'partition', error: 'x' } })))
    const prepared = await prep.prepare(Object.freeze(input), [11, 12, 13, 14])
    assert.deepEqual(input, copy)
    assert.deepEqual(input.map((m) => m.partition), [null, null, 8, 1])
    assert.deepEqual(prepared.sizes.slice(0, 2), [11, 12])
    assert.equal(prepared.sizes[2], messageSize(prepared.messages[2]), 'a replacement is measured')
    assert.equal(prepared.sizes[3], 14)
    assert.deepEqual(prepared.partitions, [(479470107 & 0x7fffffff) % 2, 0, 1, 1])
  })
})
