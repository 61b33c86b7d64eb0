import { test } from 'node:test'
import assert from 'node:assert/strict'
import { asSyncOfGroup } from '../../../connectors/postgres/slot-reader.ts'
import type { SlotReading } from '../../../core/contracts.ts'

const slot: SlotReading = { serverLsn: 1_000n, confirmedLsn: 400n, restartLsn: 300n, walStatus: 'reserved', safeWalBytes: null, stats: null }

test('a sync of a stream group: the one holding the slot retains its WAL, one ahead only what lies past its cursor', () => {
  assert.deepEqual(asSyncOfGroup(slot, 400n), { ...slot, confirmedLsn: 400n, restartLsn: 300n })
  assert.deepEqual(asSyncOfGroup(slot, 900n), { ...slot, confirmedLsn: 900n, restartLsn: 900n })
})
