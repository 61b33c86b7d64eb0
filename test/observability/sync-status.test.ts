import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Telemetry } from '../../core/telemetry.ts'
import { formatStatus, trackSyncStatus } from '../../observability/sync-status.ts'

test('status: state, snapshot rows done / estimated total, rate and ETA from the chunks seen', () => {
  const telemetry = new Telemetry()
  let now = 1_000
  const tracker = trackSyncStatus(telemetry, () => now)
  telemetry.emit('state', { sync: 'users', state: 'streaming' })
  telemetry.emit('state', { sync: 'orders', state: 'streaming' })
  telemetry.emit('backfill', { sync: 'users', done: 2_000, total: 10_000, chunkRows: 2_000 })
  now += 2_000
  telemetry.emit('backfill', { sync: 'users', done: 6_000, total: 10_000, chunkRows: 4_000 })
  const status = tracker.status()
  assert.deepEqual(status.users, { state: 'streaming', snapshot: { running: true, rowsDone: 6_000, rowsTotal: 10_000, chunks: 2, rowsPerSecond: 2_000, etaSeconds: 2 } })
  assert.deepEqual(status.orders, { state: 'streaming', snapshot: null })
  assert.deepEqual(formatStatus(status), ['users: streaming, snapshot running [############........] 6000/10000 rows (60 %), 2000 rows/s, ETA 2 s', 'orders: streaming'])
  telemetry.emit('backfill', { sync: 'users', done: 9_000, total: 9_000, chunkRows: 3_000 })
  assert.equal(tracker.status().users.snapshot?.running, false)
  // A new snapshot (resync) starts counting again.
  telemetry.emit('backfill', { sync: 'users', done: 100, total: 9_000, chunkRows: 100 })
  assert.deepEqual(tracker.status().users.snapshot, { running: true, rowsDone: 100, rowsTotal: 9_000, chunks: 1, rowsPerSecond: null, etaSeconds: null })
  tracker.close()
})

test('status: a sync its stream group parked shows parked, the slot and the position it holds, until it caught up', () => {
  const telemetry = new Telemetry()
  const tracker = trackSyncStatus(telemetry)
  telemetry.emit('state', { sync: 'orders', state: 'degraded', kind: 'topic-missing', reason: 'topic orders does not exist' })
  telemetry.emit('parked', { sync: 'orders', slot: 'rowcast_group', parked: true, position: 0x1_6b374d48n })
  assert.deepEqual(tracker.status().orders, { state: 'parked', parked: { slot: 'rowcast_group', position: '1/6B374D48' }, snapshot: null })
  assert.deepEqual(formatStatus(tracker.status()), ['orders: parked: the other syncs of its stream group go on; slot rowcast_group stays at 1/6B374D48 for it (PostgreSQL keeps WAL from there)'])
  // Its own state moves on beneath (the topic is back): still parked until it caught up.
  telemetry.emit('state', { sync: 'orders', state: 'streaming' })
  assert.equal(tracker.status().orders.state, 'parked')
  telemetry.emit('parked', { sync: 'orders', slot: 'rowcast_group', parked: false, position: 0x1_7000000n })
  assert.deepEqual(tracker.status().orders, { state: 'streaming', snapshot: null })
  tracker.close()
})
