import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RowcastError } from '../../../core/errors.ts'
import { checkProgressSource, decodeProgress, progressRecord } from '../../../connectors/kafka/exactly-once.ts'

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
