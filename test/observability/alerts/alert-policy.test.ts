import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { AlertPolicy, alertThresholdsSchema, type AlertThresholds, type AlertTransition } from '../../../observability/alerts/alert-policy.ts'

const brief = (ts: AlertTransition[]) => ts.map((t) => `${t.action} ${t.sync} ${t.kind}`)
/** The validated `alertThresholds` slice, as the daemon hands it over. */
const thresholds = (input: Partial<AlertThresholds> = {}) => alertThresholdsSchema.parse(input)

describe('AlertPolicy', () => {
  test('a failed sync triggers once, however often it says so; retries that stream and fail again resolve nothing', () => {
    const p = new AlertPolicy(thresholds())
    const checkpoint = (lsn: bigint, now: number) => brief(p.observeCheckpoint({ sync: 'a', lsn, lagBytes: 0, lagSeconds: 0 }, now))
    assert.deepEqual(checkpoint(100n, 0), [])
    assert.deepEqual(brief(p.observeState({ sync: 'a', state: 'failed', reason: 'boom', kind: 'fatal', position: 150n }, 1)), ['trigger a fatal'])
    assert.deepEqual(p.failing(), [{ sync: 'a', kind: 'fatal' }])
    for (let retry = 0; retry < 3; retry++) {
      assert.deepEqual(p.observeState({ sync: 'a', state: 'streaming' }, 10 + retry), []) // each retry streams before it fails
      assert.deepEqual(checkpoint(120n, 20 + retry), []) // re-delivers what was in flight, short of the failing row
      assert.deepEqual(p.observeState({ sync: 'a', state: 'failed', reason: 'boom again', kind: 'fatal', position: 150n }, 30 + retry), [])
    }
    assert.deepEqual(checkpoint(150n, 40), []) // at the failing change's position is not past it
    assert.deepEqual(checkpoint(200n, 50), ['resolve a fatal'])
    assert.deepEqual(checkpoint(300n, 60), [])
    assert.deepEqual(p.failing(), [])
  })

  test('a failure at no known position resolves once the checkpoint passes the last confirmed position', () => {
    const p = new AlertPolicy(thresholds())
    p.observeCheckpoint({ sync: 'a', lsn: 100n, lagBytes: 0, lagSeconds: 0 }, 0)
    assert.deepEqual(brief(p.observeState({ sync: 'a', state: 'failed', reason: 'boom' }, 1)), ['trigger a fatal'])
    assert.deepEqual(p.observeCheckpoint({ sync: 'a', lsn: 90n, lagBytes: 0, lagSeconds: 0 }, 2), []) // re-delivered
    assert.deepEqual(brief(p.observeCheckpoint({ sync: 'a', lsn: 101n, lagBytes: 0, lagSeconds: 0 }, 3)), ['resolve a fatal'])
  })

  test('a lost slot is its own kind, resolved when the sync delivers again (after a resync)', () => {
    const p = new AlertPolicy(thresholds())
    assert.deepEqual(brief(p.observeState({ sync: 'a', state: 'failed', reason: 'slot gone', kind: 'slot-lost' }, 0)), ['trigger a slot-lost'])
    assert.deepEqual(p.observeState({ sync: 'a', state: 'failed', reason: 'slot gone', kind: 'slot-lost' }, 1), [])
    assert.deepEqual(brief(p.observeCheckpoint({ sync: 'a', lsn: 5n, lagBytes: 0, lagSeconds: 0 }, 2)), ['resolve a slot-lost'])
  })

  test('PostgreSQL, topic and registry outages: each its own kind and threshold; a change of problem resolves the old one', () => {
    const p = new AlertPolicy(thresholds({ postgresUnreachableMs: 1000, topicMissingMs: 2000, registryUnreachableMs: 3000 }))
    assert.deepEqual(p.observeState({ sync: 'a', state: 'degraded', kind: 'postgres-unreachable' }, 0), [])
    assert.equal(p.nextDeadline(), 1000)
    assert.deepEqual(brief(p.tick(1000)), ['trigger a postgres-unreachable'])
    assert.deepEqual(p.observeState({ sync: 'a', state: 'degraded', kind: 'postgres-unreachable' }, 1500), [])
    assert.deepEqual(brief(p.observeState({ sync: 'a', state: 'degraded', kind: 'topic-missing' }, 2000)), ['resolve a postgres-unreachable'])
    assert.equal(p.nextDeadline(), 4000)
    assert.deepEqual(brief(p.tick(4000)), ['trigger a topic-missing'])
    assert.deepEqual(brief(p.observeState({ sync: 'a', state: 'streaming' }, 5000)), ['resolve a topic-missing'])
    p.observeState({ sync: 'a', state: 'degraded', kind: 'registry-unreachable' }, 6000)
    assert.deepEqual(brief(p.tick(9000)), ['trigger a registry-unreachable'])
    assert.deepEqual(brief(p.observeState({ sync: 'a', state: 'streaming' }, 9500)), ['resolve a registry-unreachable'])
  })

  test('retained WAL over its threshold triggers once and resolves well below it', () => {
    const p = new AlertPolicy(thresholds({ slotRetainedWalBytes: 1000 }))
    const at = (retainedBytes: number) => brief(p.observeSlot({ sync: 'a', slot: 's', lagBytes: 0, lagSeconds: 0, retainedBytes, walStatus: 'reserved', safeWalBytes: null, stats: null }, 0))
    assert.deepEqual(at(1000), [])
    assert.deepEqual(at(1001), ['trigger a slot-wal'])
    assert.deepEqual(at(5000), [])
    assert.deepEqual(at(950), [])
    assert.deepEqual(at(10), ['resolve a slot-wal'])
  })

  test('the summary names the sync and the reason', () => {
    const [t] = new AlertPolicy(thresholds()).observeState({ sync: 'orders', state: 'failed', reason: 'slot dropped' }, 0)
    assert.equal(t.summary, 'sync orders failed: slot dropped')
  })

  test('Kafka unreachable alerts only after the threshold, once, and resolves on recovery', () => {
    const p = new AlertPolicy(thresholds({ kafkaUnreachableMs: 60_000 }))
    const down = { sync: 'a', state: 'degraded', kind: 'kafka-unreachable' } as const
    assert.deepEqual(p.observeState(down, 1_000), [])
    assert.equal(p.nextDeadline(), 61_000)
    assert.deepEqual(p.observeState(down, 30_000), []) // repeated degraded does not restart the clock
    assert.deepEqual(p.tick(60_999), [])
    assert.deepEqual(brief(p.tick(61_000)), ['trigger a kafka-unreachable'])
    assert.deepEqual(p.tick(120_000), [])
    assert.equal(p.nextDeadline(), undefined) // nothing left to time while it is already failing
    assert.deepEqual(brief(p.observeState({ sync: 'a', state: 'streaming' }, 130_000)), ['resolve a kafka-unreachable'])
  })

  test('Kafka back before the threshold: no alert at all', () => {
    const p = new AlertPolicy(thresholds({ kafkaUnreachableMs: 60_000 }))
    p.observeState({ sync: 'a', state: 'degraded', kind: 'kafka-unreachable' }, 0)
    assert.deepEqual(p.observeState({ sync: 'a', state: 'streaming' }, 59_000), [])
    assert.deepEqual(p.tick(120_000), [])
    assert.equal(p.nextDeadline(), undefined)
  })

  test('degraded for another reason does not start the Kafka clock', () => {
    const p = new AlertPolicy(thresholds({ kafkaUnreachableMs: 0 }))
    assert.deepEqual(p.observeState({ sync: 'a', state: 'degraded' }, 0), [])
    assert.deepEqual(p.tick(1_000_000), [])
  })

  test('rejected rows: trigger at the threshold within the window, resolve when the window is clean', () => {
    const p = new AlertPolicy(thresholds({ rejectedRows: 5, rejectedWindowMs: 60_000 }))
    assert.deepEqual(p.observeRejected({ sync: 'a', reason: 'too-large', count: 3 }, 0), [])
    assert.deepEqual(brief(p.observeRejected({ sync: 'a', reason: 'too-large', count: 2 }, 10_000)), ['trigger a row-errors'])
    assert.deepEqual(p.observeRejected({ sync: 'a', reason: 'too-large', count: 100 }, 20_000), []) // still one alert
    assert.deepEqual(p.tick(70_000), []) // the 100 rejected at 20 s are still inside the window
    assert.equal(p.nextDeadline(), 80_000)
    assert.deepEqual(p.tick(79_999), [])
    assert.deepEqual(brief(p.tick(80_000)), ['resolve a row-errors'])
  })

  test('rejected rows spread thinner than the window allows never alert', () => {
    const p = new AlertPolicy(thresholds({ rejectedRows: 2, rejectedWindowMs: 10_000 }))
    for (let t = 0; t < 100_000; t += 11_000) assert.deepEqual(p.observeRejected({ sync: 'a', reason: 'x', count: 1 }, t), [])
  })

  test('replication lag (from the slot monitor) over either threshold triggers once; resolves only well below it', () => {
    const p = new AlertPolicy(thresholds({ replicationLagBytes: 1000, replicationLagSeconds: 60 }))
    const at = (lagBytes: number, lagSeconds: number, now: number) => brief(p.observeSlot({ sync: 'a', slot: 's', lagBytes, lagSeconds, retainedBytes: 0, walStatus: 'reserved', safeWalBytes: null, stats: null }, now))
    assert.deepEqual(at(1000, 60, 0), []) // at the threshold is not over it
    assert.deepEqual(at(1001, 0, 1), ['trigger a lag'])
    assert.deepEqual(at(5000, 0, 2), [])
    assert.deepEqual(at(950, 0, 3), []) // under the threshold but within the hysteresis band
    assert.deepEqual(at(100, 1, 4), ['resolve a lag'])
    assert.deepEqual(at(0, 61, 5), ['trigger a lag'])
    assert.deepEqual(at(0, 1, 6), ['resolve a lag'])
  })

  test('syncs and kinds are independent', () => {
    const p = new AlertPolicy(thresholds({ rejectedRows: 1 }))
    assert.deepEqual(brief(p.observeState({ sync: 'a', state: 'failed' }, 0)), ['trigger a fatal'])
    assert.deepEqual(brief(p.observeRejected({ sync: 'b', reason: 'x', count: 1 }, 0)), ['trigger b row-errors'])
    assert.deepEqual(brief(p.observeRejected({ sync: 'a', reason: 'x', count: 1 }, 0)), ['trigger a row-errors'])
    assert.deepEqual(brief(p.observeCheckpoint({ sync: 'a', lsn: 1n, lagBytes: 0, lagSeconds: 0 }, 1)), ['resolve a fatal'])
    assert.deepEqual(p.failing().map((f) => `${f.sync} ${f.kind}`).sort(), ['a row-errors', 'b row-errors'])
  })

  test('thresholds: defaults and strictness', () => {
    assert.deepEqual(alertThresholdsSchema.parse({}), {
      kafkaUnreachableMs: 60_000,
      postgresUnreachableMs: 60_000,
      topicMissingMs: 60_000,
      registryUnreachableMs: 60_000,
      slotRetainedWalBytes: 4 * 1024 ** 3,
      rejectedRows: 1,
      rejectedWindowMs: 300_000,
      replicationLagBytes: 1024 ** 3,
      replicationLagSeconds: 300,
    })
    assert.equal(alertThresholdsSchema.safeParse({ kafka_unreachable_ms: 1 }).success, false)
  })

  test('a parked sync of a stream group alerts at once, naming the sync, the slot and the position it holds; resolved once it caught up', () => {
    const p = new AlertPolicy(thresholds())
    const parked = (on: boolean, now: number) => p.observeParked({ sync: 'orders', slot: 'rowcast_group', parked: on, position: 0x2_000000a0n }, now)
    const fired = parked(true, 0)
    assert.deepEqual(brief(fired), ['trigger orders parked'])
    assert.match(fired[0].summary, /sync orders is parked.*slot rowcast_group stays at 2\/A0.*keeps WAL/)
    assert.deepEqual(parked(true, 1), []) // parked again before catching up: still the one alert
    assert.deepEqual(p.observeState({ sync: 'orders', state: 'streaming' }, 2), []) // streaming again is not caught up yet
    assert.deepEqual(brief(parked(false, 3)), ['resolve orders parked'])
    assert.deepEqual(parked(false, 4), [])
    assert.deepEqual(p.failing(), [])
  })
})
