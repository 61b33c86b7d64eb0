import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { SyncStatus } from '../../observability/sync-status.ts'
import { changedLines, duration, noSnapshotRunning, progressBarLine, progressFrame, redraw, watchStatus } from '../../daemon/status-watch.ts'

const running: SyncStatus = { state: 'streaming', snapshot: { running: true, rowsDone: 6_000, rowsTotal: 10_000, chunks: 3, rowsPerSecond: 2_000, etaSeconds: 2 } }
const done: SyncStatus = { state: 'streaming', snapshot: { running: false, rowsDone: 10_000, rowsTotal: 10_000, chunks: 5, rowsPerSecond: 2_500, etaSeconds: 0 } }

test('a terminal line: bar, percent, rows done / estimated total, rate and ETA; names aligned', () => {
  assert.equal(progressBarLine('orders', running, 10), 'orders  [██████░░░░]  60 %  6,000/10,000 rows  2,000 rows/s  ETA 2 s  (streaming)')
  assert.equal(progressBarLine('orders', done, 10), 'orders  [██████████] 100 %  10,000/10,000 rows  2,500 rows/s  done  (streaming)')
  assert.equal(progressBarLine('orders', { ...running, snapshot: { ...running.snapshot!, rowsPerSecond: null, etaSeconds: null } }, 10), 'orders  [██████░░░░]  60 %  6,000/10,000 rows  ETA …  (streaming)')
  assert.deepEqual(progressFrame({ orders: running, u: { state: 'degraded', snapshot: null } }, 4), ['orders  [██░░]  60 %  6,000/10,000 rows  2,000 rows/s  ETA 2 s  (streaming)', 'u       degraded'])
})

test('a redraw moves up over the last frame and clears each line, also those a shorter frame leaves', () => {
  assert.equal(redraw(0, ['a', 'b']), '\u001b[2Ka\n\u001b[2Kb')
  assert.equal(redraw(2, ['c']), '\u001b[2A\r\u001b[2Kc\n\u001b[2K')
})

test('without a terminal: the plain status lines, each only when it changed', () => {
  const last = new Map<string, string>()
  assert.deepEqual(changedLines({ orders: running, users: { state: 'streaming', snapshot: null } }, last), [
    'orders: streaming, snapshot running [############........] 6000/10000 rows (60 %), 2000 rows/s, ETA 2 s',
    'users: streaming',
  ])
  assert.deepEqual(changedLines({ orders: running, users: { state: 'streaming', snapshot: null } }, last), [])
  assert.deepEqual(changedLines({ orders: done, users: { state: 'streaming', snapshot: null } }, last), ['orders: streaming, snapshot done [####################] 10000/10000 rows (100 %), 2500 rows/s'])
})

test('watching ends when no snapshot runs; durations read as a person would say them', async () => {
  assert.equal(noSnapshotRunning({ a: running, b: done }), false)
  assert.equal(noSnapshotRunning({ b: done, c: { state: 'streaming', snapshot: null } }), true)
  assert.deepEqual([duration(42), duration(185), duration(7_620)], ['42 s', '3 min 05 s', '2 h 07 min'])
  const polls = [{ orders: running }, { orders: running }, { orders: done }]
  const printed: string[] = []
  assert.equal(await watchStatus(async () => polls.shift() ?? null, (l) => printed.push(l), { tty: false, intervalMs: 1 }), 0)
  assert.equal(printed.length, 2)
  assert.equal(await watchStatus(async () => null, () => undefined, { tty: true, intervalMs: 1 }), 1)
})
