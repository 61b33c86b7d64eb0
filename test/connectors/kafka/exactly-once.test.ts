import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RowcastError } from '../../../core/errors.ts'
import type { OutgoingMessage, SnapshotMark } from '../../../core/changes.ts'
import { checkProgressSource, decodeProgress, progressAfter, progressRecord } from '../../../connectors/kafka/exactly-once.ts'

/** Progress records name their source; progress of another source is refused, records of earlier versions are taken. */
const source = { systemId: '7300000000000000001', database: 'app', slot: 'rowcast_users' }

test('a progress record carries its source and reads back with it', () => {
  const record = progressRecord('rowcast-progress', 'tenant-a/users', source)
  assert.equal(record.key, 'tenant-a/users')
  const decoded = decodeProgress(record.encode({ lsn: 0x10n, partial: { txLsn: 0x20n, messages: 3 } }))
  assert.deepEqual(decoded, { lsn: 0x10n, partial: { txLsn: 0x20n, messages: 3 }, source })
})

test('progress of another server, database or slot fails loudly, naming both and the namespace setting', () => {
  for (const other of [{ ...source, systemId: '1' }, { ...source, database: 'tenant2' }, { ...source, slot: 'x' }]) {
    assert.throws(
      () => checkProgressSource({ lsn: 0x10n, partial: null, source: other }, source, 'rowcast-progress', 'users'),
      (error: unknown) => error instanceof RowcastError && error.code === 'KAFKA_PROGRESS_FOREIGN' && !error.retriable && /another source .*destination\.exactlyOnce\.namespace/.test(error.message),
    )
  }
  checkProgressSource({ lsn: 0x10n, partial: null, source }, source, 'rowcast-progress', 'users')
  checkProgressSource({ lsn: 0x10n, partial: null }, source, 'rowcast-progress', 'users') // an earlier version's record
})

/** A message of a snapshot row (with its mark) or of a stream change (none). */
function message(mark?: SnapshotMark): OutgoingMessage {
  return { change: { type: 'added', table: 't', row: {}, previous: null, key: null, lsn: '0/0', ...(mark === undefined ? {} : { snapshot: mark }) }, value: '', topic: 't', key: null, partition: null, headers: null }
}

test('a snapshot mark reads back from the progress record', () => {
  const record = progressRecord('rowcast-progress', 'users', source)
  const snapshot = { run: 'r1', key: ['42', 'a,b'], rows: 42 }
  assert.deepEqual(decodeProgress(record.encode({ lsn: 0x10n, partial: null, snapshot })), { lsn: 0x10n, partial: null, source, snapshot })
})

test('the progress of a request carries the mark of its last snapshot row, also inside a chunk, and keeps it on', () => {
  const marks = [1, 2, 3, 4].map((rows) => ({ run: 'r1', key: [String(rows * 10)], rows }))
  const chunk = { messages: marks.map((m) => message(m)), commitLsn: null, txLsn: 0x50n, txOffset: 0 }
  // The request ends inside the chunk: the mark of its last row in the request, with the partial count.
  const first = progressAfter({ lsn: 0x10n, partial: null }, [{ entry: chunk, to: 2 }])
  assert.deepEqual(first, { lsn: 0x10n, partial: { txLsn: 0x50n, messages: 2 }, snapshot: marks[1] })
  // A later request of stream changes only: the mark stays in the record (the compacted topic keeps the last one).
  const stream = { messages: [message()], commitLsn: 0x60n, txLsn: 0x58n, txOffset: 0 }
  assert.deepEqual(progressAfter(first!, [{ entry: stream, to: 1 }]), { lsn: 0x60n, partial: null, snapshot: marks[1] })
  // No snapshot ever: no mark in the record.
  assert.deepEqual(progressAfter({ lsn: 0x10n, partial: null }, [{ entry: stream, to: 1 }]), { lsn: 0x60n, partial: null })
})

test('a sync moved into its stream group takes the progress its old slot wrote as its own; the records it writes name the group\'s slot only', () => {
  const moved = { ...source, slot: 'rowcast_group', formerSlots: ['rowcast_users'] }
  checkProgressSource({ lsn: 0x10n, partial: null, source }, moved, 'rowcast-progress', 'users')
  assert.throws(() => checkProgressSource({ lsn: 0x10n, partial: null, source: { ...source, slot: 'rowcast_other' } }, moved, 'rowcast-progress', 'users'), (error: unknown) => error instanceof RowcastError && error.code === 'KAFKA_PROGRESS_FOREIGN')
  assert.throws(() => checkProgressSource({ lsn: 0x10n, partial: null, source: { ...source, database: 'other' } }, moved, 'rowcast-progress', 'users'), (error: unknown) => error instanceof RowcastError && error.code === 'KAFKA_PROGRESS_FOREIGN')
  assert.deepEqual(decodeProgress(progressRecord('rowcast-progress', 'users', moved).encode({ lsn: 0x10n, partial: null })).source, { ...source, slot: 'rowcast_group' })
})
