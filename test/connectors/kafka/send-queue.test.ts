import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Batch, OutgoingMessage } from '../../../core/changes.ts'
import { SendQueue } from '../../../connectors/kafka/send-queue.ts'

/** The sink's queue alone: in-flight bounds, pressure, settling, and what preparation changes. */

function batch(count: number, valueBytes = 10): Batch<OutgoingMessage> {
  const items = Array.from({ length: count }, (_, i) => ({
    change: { type: 'added' as const, table: 't', row: {}, previous: null, key: String(i), lsn: '0/0' },
    value: 'x'.repeat(valueBytes),
    topic: 't',
    key: null,
    partition: null,
    headers: null,
  }))
  return { items, commitLsn: 1n, commitTime: 0, txId: 1 }
}

function recorder() {
  const acks: [number, number][] = []
  const pressure: boolean[] = []
  return { acks, pressure, events: { acknowledged: (ticket: number, count: number) => void acks.push([ticket, count]), pressure: (paused: boolean) => void pressure.push(paused) } }
}

test('pressure at either in-flight bound, released only below half of both', () => {
  const r = recorder()
  const queue = new SendQueue({ maxInFlightMessages: 10, maxInFlightBytes: 1_000 }, r.events)
  queue.push(batch(6), 0, null)
  assert.deepEqual(r.pressure, [])
  queue.push(batch(4), 1, null)
  assert.deepEqual(r.pressure, [true], 'the message bound')
  assert.deepEqual(queue.inFlight, { messages: 10, bytes: 100 })
  const [first, second] = queue.entries
  queue.prepared(first, { messages: [...first.messages], sizes: [...first.sizes], partitions: [0, 0, 0, 0, 0, 0] })
  first.next = 4
  queue.settle(first, 4, 40)
  assert.deepEqual(r.pressure, [true], '6 in flight: not yet below half')
  first.next = 6
  queue.settle(first, 2, 20)
  assert.deepEqual(r.pressure, [true, false])
  assert.equal(queue.entries.length, 1, 'a finished entry leaves the head')
  assert.equal(queue.entries[0], second)
  assert.deepEqual(r.acks, [[0, 4], [0, 2]])

  queue.push(batch(1, 2_000), 2, null)
  assert.deepEqual(r.pressure, [true, false, true], 'the byte bound')
})

test('preparation: dropped messages are acknowledged, and a dead letter counts with its own size', () => {
  const r = recorder()
  const queue = new SendQueue({ maxInFlightMessages: 100, maxInFlightBytes: 10_000 }, r.events)
  queue.push(batch(3, 100), 7, null)
  const [entry] = queue.entries
  const original = entry.messages
  const deadLetter = { ...original[1], value: 'dead', deadLetter: { reason: 'too-large', error: 'big' } }
  // The first message skipped by the policy, the second replaced by a 4-byte dead letter.
  queue.prepared(entry, { messages: [deadLetter, original[2]], sizes: [4, 100], partitions: [0, 1] })
  assert.deepEqual(r.acks, [[7, 1]])
  assert.deepEqual(queue.inFlight, { messages: 2, bytes: 104 })
  entry.next = 2
  queue.settle(entry, 2, 104)
  assert.deepEqual(queue.inFlight, { messages: 0, bytes: 0 }, 'nothing left over once all is sent')
  assert.equal(queue.entries.length, 0)

  queue.push(batch(1, 300), 8, null)
  const [replacedOnly] = queue.entries
  queue.prepared(replacedOnly, { messages: [{ ...replacedOnly.messages[0], value: 'd' }], sizes: [1], partitions: [0] })
  assert.deepEqual(queue.inFlight, { messages: 1, bytes: 1 }, 'a replacement without a drop changes the bytes, too')
  assert.deepEqual(r.acks, [[7, 1], [7, 2]], 'and acknowledges nothing yet')
})
