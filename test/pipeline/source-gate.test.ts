import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { SourceGate } from '../../pipeline/source-gate.ts'
import { FakeSource, recordsFor } from './fakes.ts'
import { Telemetry } from '../../core/telemetry.ts'

function gateWith(maxPendingBatches = 10, closing = () => false) {
  const source = new FakeSource()
  const telemetry = new Telemetry()
  const paused: boolean[] = []
  const pending: number[] = []
  telemetry.on('paused', (p) => void paused.push(p.paused))
  telemetry.on('pendingBatches', (p) => void pending.push(p.batches))
  const gate = new SourceGate(source, recordsFor(telemetry), { closing, maxPendingBatches })
  return { source, gate, paused, pending }
}

describe('SourceGate', () => {
  test('resumes only when no reason holds the source any more', () => {
    const { source, gate, paused } = gateWith()
    gate.hold('sink', true)
    gate.hold('registry', true)
    gate.hold('sink', false)
    assert.deepEqual(source.calls, ['pause'], 'the sink drained, but a registration still waits')
    gate.hold('registry', false)
    assert.deepEqual(source.calls, ['pause', 'resume'])
    assert.deepEqual(paused, [true, false], 'one pause and one release reported')
  })

  test('checkpoint batches count toward the bound: held at it, released at half of it', () => {
    const { source, gate, pending } = gateWith(10)
    for (let n = 1; n <= 9; n++) gate.pendingBatches(n)
    assert.deepEqual(source.calls, [])
    gate.pendingBatches(10)
    assert.deepEqual(source.calls, ['pause'])
    gate.pendingBatches(6)
    assert.deepEqual(source.calls, ['pause'], 'above half: still held')
    gate.pendingBatches(5)
    assert.deepEqual(source.calls, ['pause', 'resume'])
    assert.equal(pending.at(-1), 5, 'the count is reported for the gauge')
  })

  test('the checkpoint bound and the sink bound hold independently', () => {
    const { source, gate } = gateWith(4)
    gate.pendingBatches(4)
    gate.hold('sink', true)
    gate.pendingBatches(1)
    assert.deepEqual(source.calls, ['pause'], 'the checkpoint let go, the sink still holds')
    gate.hold('sink', false)
    assert.deepEqual(source.calls, ['pause', 'resume'])
  })

  test('a closing attempt never resumes its source', () => {
    const { source, gate } = gateWith(10, () => true)
    gate.hold('sink', true)
    gate.hold('sink', false)
    assert.deepEqual(source.calls, ['pause'])
  })
})
