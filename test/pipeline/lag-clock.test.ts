import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { LagClock } from '../../pipeline/lag-clock.ts'

describe('LagClock: lag in seconds from the server view', () => {
  test('a stuck confirmed position lags by the time since the server first moved past it', () => {
    const clock = new LagClock()
    assert.equal(clock.observe(0, 100n, 100n), 0) // caught up
    assert.equal(clock.observe(10_000, 200n, 100n), 0) // first seen behind: no history yet
    assert.equal(clock.observe(20_000, 300n, 100n), 10)
    assert.equal(clock.observe(70_000, 400n, 100n), 60) // keeps growing while nothing is confirmed
  })

  test('confirming catches up to the first sample still ahead; caught up is 0', () => {
    const clock = new LagClock()
    clock.observe(0, 200n, 100n)
    clock.observe(10_000, 300n, 100n)
    clock.observe(20_000, 400n, 100n)
    assert.equal(clock.observe(30_000, 500n, 250n), 20) // the WAL was past 250 only from the 10 s sample on
    assert.equal(clock.observe(40_000, 500n, 500n), 0)
  })

  test('a new slot (confirmed going back) starts over', () => {
    const clock = new LagClock()
    clock.observe(0, 1000n, 10n)
    assert.equal(clock.observe(50_000, 1100n, 10n), 50)
    assert.equal(clock.observe(60_000, 1200n, 5n), 0)
  })

  test('history stays bounded and keeps its oldest sample', () => {
    const clock = new LagClock()
    for (let i = 0; i < 10_000; i++) clock.observe(i * 1000, BigInt(100 + i), 0n)
    assert.equal(clock.observe(10_000_000, 99_999n, 0n), 10_000)
  })
})
