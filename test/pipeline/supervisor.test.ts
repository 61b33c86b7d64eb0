import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { RowcastError } from '../../core/errors.ts'
import { Telemetry, type TelemetryEvents } from '../../core/telemetry.ts'
import type { AttemptEdges } from '../../pipeline/attempt.ts'
import { SyncSupervisor } from '../../pipeline/supervisor.ts'
import { fakeEdges, FakeSink, FakeSource, recordsFor, silentLogger, until } from './fakes.ts'

function supervise(edges: AttemptEdges, failedRetryMs = 60_000) {
  const telemetry = new Telemetry()
  const states: TelemetryEvents['state'][] = []
  const reconnects: TelemetryEvents['reconnect'][] = []
  telemetry.on('state', (s) => void states.push(s))
  telemetry.on('reconnect', (r) => void reconnects.push(r))
  const supervisor = new SyncSupervisor({ name: 'fake', exactlyOnce: false, edges, telemetry, logger: silentLogger, records: recordsFor(telemetry), failedRetryMs })
  return { supervisor, states, reconnects }
}

describe('SyncSupervisor (fake edges)', () => {
  test('a retriable failure is degraded and retried; the next attempt streams', async () => {
    const source = new FakeSource()
    const sink = new FakeSink()
    const real = fakeEdges(source, sink)
    let opens = 0
    const edges = fakeEdges(source, sink, {
      openSource: (signal, hooks) => {
        opens++
        if (opens === 1) return Promise.reject(new RowcastError('PG_UNREACHABLE', 'connection refused'))
        return real.openSource(signal, hooks)
      },
    })
    const { supervisor, states, reconnects } = supervise(edges)
    supervisor.start()
    await until(() => supervisor.state === 'streaming', 5_000, 'the second attempt to stream')
    assert.deepEqual(states.map((s) => s.state), ['degraded', 'streaming'])
    assert.equal(states[0].reason, 'connection refused')
    assert.deepEqual(reconnects.map((r) => r.target), ['postgres'])
    await supervisor.stop()
    assert.equal(supervisor.state, 'stopped')
  })

  test('a non-retriable failure marks the sync failed (fatal) and waits before the next try', async () => {
    let opens = 0
    const edges = fakeEdges(new FakeSource(), new FakeSink(), {
      openSource: () => {
        opens++
        return Promise.reject(new RowcastError('PG_PUBLICATION_FAILED', 'permission denied'))
      },
    })
    const { supervisor, states } = supervise(edges, 50)
    supervisor.start()
    await until(() => opens >= 3, 5_000, 'three attempts')
    assert.ok(states.length >= 3 && states.every((s) => s.state === 'failed' && s.kind === 'fatal'), JSON.stringify(states))
    await supervisor.stop()
  })

  test('an unknown error is not retried quickly: it is failed like any non-retriable one', async () => {
    const edges = fakeEdges(new FakeSource(), new FakeSink(), { openSource: () => Promise.reject(new TypeError('a bug')) })
    const { supervisor, states } = supervise(edges)
    supervisor.start()
    await until(() => states.length > 0)
    assert.equal(states[0].state, 'failed')
    const started = Date.now()
    await supervisor.stop()
    assert.ok(Date.now() - started < 1_000, 'stop wakes the supervisor from its wait')
  })
})
