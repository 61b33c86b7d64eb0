import { describe, test } from 'node:test'
import { pipe } from 'rxjs'
import swapPairs from '../support/swap-pairs-operator.ts'
import assert from 'node:assert/strict'
import type { SyncState } from '../../core/telemetry.ts'
import { RowcastError } from '../../core/errors.ts'
import { Attempt, type AttemptEdges } from '../../pipeline/attempt.ts'
import { fakeEdges, FakeSink, FakeSource, recordsFor, silentLogger, toMessages, until } from './fakes.ts'

function attemptWith(edges: AttemptEdges, exactlyOnce = false, maxPendingBatches?: number): { attempt: Attempt; states: SyncState[] } {
  const states: SyncState[] = []
  const attempt = new Attempt(edges, { exactlyOnce, logger: silentLogger, records: recordsFor(), setState: (s) => void states.push(s), maxPendingBatches })
  return { attempt, states }
}

/** An attempt over fake edges, running, its sink open: what most tests start from. */
async function started(options: { source?: FakeSource; exactlyOnce?: boolean; overrides?: Partial<AttemptEdges>; maxPendingBatches?: number } = {}) {
  const source = options.source ?? new FakeSource()
  const sink = new FakeSink()
  const edges = fakeEdges(source, sink, options.overrides)
  const { attempt, states } = attemptWith(edges, options.exactlyOnce, options.maxPendingBatches)
  const running = attempt.run()
  await until(() => sink.events !== null, 2_000, 'the sink to open')
  return { source, sink, edges, attempt, states, running }
}

describe('Attempt (fake source and sink)', () => {
  test('acknowledgements out of order confirm positions in commit order', async () => {
    const { source, sink, attempt, states, running } = await started()
    source.commit(10n)
    source.commit(20n)
    source.commit(30n)
    assert.deepEqual(sink.queued.map((q) => q.ticket), [0, 1, 2])

    sink.ack(2)
    sink.ack(1)
    assert.deepEqual(source.confirmed, [], 'nothing before the oldest batch is acknowledged')
    sink.ack(0)
    assert.deepEqual(source.confirmed, [30n], 'all three acknowledged: the newest commit')

    source.commit(40n)
    source.commit(50n)
    sink.ack(3)
    assert.deepEqual(source.confirmed, [30n, 40n])
    sink.ack(4)
    assert.deepEqual(source.confirmed, [30n, 40n, 50n])
    assert.deepEqual(states, ['streaming'])

    await attempt.stop()
    await running
    assert.equal(source.closed, 1)
    assert.equal(sink.closed, 1)
  })

  test('while the head waits, filtered-out batches share an entry and batches count toward the pause bound', async () => {
    const { source, sink, attempt, running } = await started({ maxPendingBatches: 6 })
    source.commit(10n) // waits for Kafka
    for (let lsn = 11n; lsn < 1_000n; lsn++) source.input.next({ items: [], commitLsn: lsn, commitTime: 0, txId: Number(lsn) })
    assert.deepEqual(source.calls, [], '999 filtered-out transactions cost one entry: no pause')
    source.commit(1_000n)
    source.commit(1_001n)
    source.input.next({ items: [], commitLsn: 1_002n, commitTime: 0, txId: 1002 })
    source.commit(1_003n)
    source.input.next({ items: [], commitLsn: 1_004n, commitTime: 0, txId: 1004 })
    assert.deepEqual(source.calls, ['pause'], 'six batches held: the source is paused though only four messages wait')
    sink.ack(0)
    assert.deepEqual(source.confirmed, [999n])
    for (const q of sink.queued.filter((q) => q.count > 0 && q.ticket !== 0)) sink.ack(q.ticket)
    assert.deepEqual(source.calls, ['pause', 'resume'])
    assert.deepEqual(source.confirmed, [999n, 1_000n, 1_002n, 1_004n], "each acknowledgement carries the filtered-out batches behind it")
    await attempt.stop()
    await running
  })

  test('a sink failure ends the attempt without confirming anything further', async () => {
    const { source, sink, running } = await started()
    source.commit(10n)
    source.commit(20n)
    sink.ack(0)
    assert.deepEqual(source.confirmed, [10n])
    const failure = new RowcastError('KAFKA_MESSAGE_TOO_LARGE', 'refused')
    sink.events?.fatal(failure)
    await assert.rejects(running, (error) => error === failure)
    source.commit(30n) // nothing listens any more
    assert.deepEqual(source.confirmed, [10n], 'the unacknowledged batch is not confirmed')
    assert.deepEqual(sink.queued.map((q) => q.ticket), [0, 1], 'nothing enqueued after the failure')
    assert.equal(source.closed, 1)
    assert.equal(sink.closed, 1)
  })

  test('a source error ends the attempt with that error, and both edges are closed', async () => {
    const { source, sink, running } = await started()
    const lost = new RowcastError('PG_REPLICATION_LOST', 'gone')
    source.input.error(lost)
    await assert.rejects(running, (error) => error === lost)
    assert.equal(source.closed, 1)
    assert.equal(sink.closed, 1)
  })

  test('stop during start-up returns promptly, and what opens afterwards is closed', async () => {
    const source = new FakeSource()
    const sink = new FakeSink()
    let aborted = false
    let release: () => void = () => {}
    const edges = fakeEdges(source, sink, {
      openSource: (signal) => {
        signal.addEventListener('abort', () => (aborted = true))
        // Like a lock held by another daemon, or a broker that never answers: opens only when released.
        return new Promise((resolve) => (release = () => resolve({ source, steps: (s) => s as never })))
      },
    })
    const { attempt } = attemptWith(edges)
    const running = attempt.run()
    await new Promise((r) => setTimeout(r, 10))
    const started = Date.now()
    await attempt.stop()
    await running
    assert.ok(Date.now() - started < 1_000, 'stop does not wait for the source to open')
    assert.ok(aborted, 'the source was told to give up waiting')
    release()
    await until(() => source.closed === 1, 2_000, 'the late source to be closed')
    assert.equal(sink.events, null, 'no sink was opened')
  })

  test('stop drains what is in flight and confirms it before it returns', async () => {
    const { source, sink, attempt, running } = await started()
    source.commit(10n)
    let stopped = false
    const stopping = attempt.stop().then(() => (stopped = true))
    await new Promise((r) => setTimeout(r, 10))
    assert.equal(stopped, false, 'waits for the in-flight batch')
    assert.ok(source.calls.includes('pause'), 'reads nothing more')
    source.commit(20n) // read after the stop began: never opened, so never confirmed
    sink.ack(0)
    await stopping
    await running
    assert.deepEqual(source.confirmed, [10n])
    assert.deepEqual(sink.queued.map((q) => q.ticket), [0])
  })

  test('a source that ends (a resync) ends the attempt after delivering what is in flight', async () => {
    const { source, sink, running } = await started()
    source.commit(10n)
    source.input.complete()
    await new Promise((r) => setTimeout(r, 10))
    sink.ack(0)
    await running
    assert.deepEqual(source.confirmed, [10n])
  })

  test('backpressure from the sink pauses and resumes the source', async () => {
    const { source, sink, attempt, running } = await started()
    sink.events?.pressure(true)
    sink.events?.pressure(false)
    assert.deepEqual(source.calls, ['pause', 'resume'])
    await attempt.stop()
    await running
  })

  test('a snapshot first: backfilling until the first streamed commit', async () => {
    const { source, sink, attempt, states, running } = await started({ source: new FakeSource(100n, true) })
    source.input.next({ items: [], commitLsn: null, commitTime: 0, txId: 0 })
    assert.deepEqual(states, ['backfilling'])
    source.commit(120n)
    assert.deepEqual(states, ['backfilling', 'streaming'])
    sink.ack(1)
    assert.deepEqual(source.confirmed, [120n])
    await attempt.stop()
    await running
  })

  test('exactly-once: each batch carries its transaction\'s commit position from BEGIN', async () => {
    const { source, sink, edges, attempt, running } = await started({ exactlyOnce: true })
    edges.hooks?.onBegin?.(10, 10n)
    source.commit(10n)
    assert.deepEqual(sink.queued.map((q) => q.txLsn), [10n])
    sink.ack(0)
    await attempt.stop()
    await running
  })

  test('a custom operator that reorders batches fails the attempt, naming it, before a later commit can be confirmed', async () => {
    const source = new FakeSource()
    const { sink, running } = await started({
      source,
      overrides: { openSource: async () => ({ source, steps: pipe(toMessages, swapPairs), customOperators: ['./swap-pairs.ts (after handleRowErrors)'] }) },
    })
    source.commit(10n)
    source.commit(20n)
    await assert.rejects(running, (error: unknown) => {
      assert.ok(error instanceof RowcastError)
      assert.equal(error.code, 'PIPELINE_ORDER_BROKEN')
      assert.equal(error.retriable, false)
      assert.match(error.message, /commit 0\/14 .* before commit 0\/A/)
      assert.match(error.message, /\.\/swap-pairs\.ts \(after handleRowErrors\)/)
      return true
    })
    assert.deepEqual(sink.queued, [], 'the batch that came early was never opened')
    assert.deepEqual(source.confirmed, [], 'nothing confirmed past the reorder')
  })
})

test('the source hears what is in flight and when Kafka acknowledged a request (a snapshot paces its slices by them), not once stopping', async () => {
  const { source, sink, edges, attempt, running } = await started()
  source.commit(10n, 3)
  source.commit(20n, 2)
  assert.equal(edges.hooks?.inFlightMessages?.(), 5)
  sink.ack(0)
  sink.events?.delivered([], 1)
  assert.equal(edges.hooks?.inFlightMessages?.(), 2)
  assert.deepEqual(source.calls, ['delivered'])
  const stopping = attempt.stop()
  sink.events?.delivered([], 1)
  assert.deepEqual(source.calls.filter((c) => c === 'delivered'), ['delivered'])
  sink.ack(1)
  await stopping
  await running
})
