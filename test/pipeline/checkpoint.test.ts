import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Checkpoint } from '../../pipeline/checkpoint.ts'

/** A checkpoint that records every position it reports. */
function recorded(start = 10n): { checkpoint: Checkpoint; advances: bigint[] } {
  const advances: bigint[] = []
  return { checkpoint: new Checkpoint(start, (lsn) => advances.push(lsn)), advances }
}

describe('Checkpoint', () => {
  test('in-order acknowledgements move the position to each commit', () => {
    const { checkpoint, advances } = recorded()
    const a = checkpoint.open(100n, 2)
    const b = checkpoint.open(200n, 1)
    assert.equal(checkpoint.confirmed, 10n)
    checkpoint.acknowledge(a, 1)
    assert.equal(checkpoint.confirmed, 10n, 'half a transaction confirms nothing')
    checkpoint.acknowledge(a, 1)
    assert.equal(checkpoint.confirmed, 100n)
    checkpoint.acknowledge(b, 1)
    assert.deepEqual(advances, [100n, 200n])
    assert.equal(checkpoint.pendingBatches, 0)
  })

  test('out-of-order acknowledgements wait for every earlier batch, then jump', () => {
    const { checkpoint, advances } = recorded()
    const a = checkpoint.open(100n, 1)
    const b = checkpoint.open(200n, 1)
    const c = checkpoint.open(300n, 2)
    checkpoint.acknowledge(c, 2)
    checkpoint.acknowledge(b, 1)
    assert.equal(checkpoint.confirmed, 10n, 'a later transaction never confirms past an unacknowledged earlier one')
    assert.deepEqual(advances, [])
    checkpoint.acknowledge(a, 1)
    assert.equal(checkpoint.confirmed, 300n)
    assert.deepEqual(advances, [300n], 'one report for the whole run')
  })

  test('an empty batch (everything filtered) counts as acknowledged at once, but only behind earlier batches', () => {
    const { checkpoint, advances } = recorded()
    checkpoint.open(100n, 0)
    assert.deepEqual(advances, [100n], 'alone, it confirms immediately')
    const b = checkpoint.open(200n, 1)
    checkpoint.open(300n, 0)
    assert.equal(checkpoint.confirmed, 100n, 'the empty batch waits behind the open one')
    checkpoint.acknowledge(b, 1)
    assert.equal(checkpoint.confirmed, 300n)
    assert.deepEqual(advances, [100n, 300n])
  })

  test('filtered-out batches behind a waiting one share one entry: thousands of them cost one, the position still reaches the last', () => {
    const { checkpoint, advances } = recorded()
    const head = checkpoint.open(100n, 1)
    for (let i = 1; i <= 10_000; i++) checkpoint.open(100n + BigInt(i), 0)
    assert.equal(checkpoint.pendingBatches, 2, 'the waiting batch and one merged entry')
    checkpoint.acknowledge(head, 1)
    assert.deepEqual(advances, [10_100n])
    assert.equal(checkpoint.pendingBatches, 0)
  })

  test('merging never skips a waiting batch: an empty batch after a pending one opens a new entry', () => {
    const { checkpoint, advances } = recorded()
    const a = checkpoint.open(100n, 1)
    checkpoint.open(150n, 0)
    const b = checkpoint.open(200n, 2)
    checkpoint.open(250n, 0)
    checkpoint.open(260n, 0)
    assert.equal(checkpoint.pendingBatches, 4)
    checkpoint.acknowledge(a, 1)
    assert.equal(checkpoint.confirmed, 150n, 'up to the batch still waiting')
    checkpoint.acknowledge(b, 2)
    assert.equal(checkpoint.confirmed, 260n)
    assert.deepEqual(advances, [150n, 260n])
  })

  test('an empty chunk without a commit position does not lower the merged entry\'s', () => {
    const { checkpoint } = recorded()
    const a = checkpoint.open(100n, 1)
    checkpoint.open(300n, 0)
    checkpoint.open(null, 0)
    checkpoint.acknowledge(a, 1)
    assert.equal(checkpoint.confirmed, 300n)
  })

  test('a chunked transaction confirms only at its last chunk (the one with commitLsn)', () => {
    const { checkpoint, advances } = recorded()
    const c1 = checkpoint.open(null, 2)
    const c2 = checkpoint.open(null, 0)
    const c3 = checkpoint.open(500n, 1)
    checkpoint.acknowledge(c1, 2)
    assert.equal(checkpoint.confirmed, 10n, 'middle chunks move nothing')
    assert.deepEqual(advances, [])
    checkpoint.acknowledge(c3, 1)
    assert.equal(checkpoint.confirmed, 500n)
    assert.deepEqual(advances, [500n])
    void c2
  })

  test('never moves backwards: a commit at or below the position (e.g. re-read after restart) reports nothing', () => {
    const { checkpoint, advances } = recorded(1000n)
    checkpoint.open(900n, 0)
    checkpoint.open(1000n, 0)
    const x = checkpoint.open(800n, 1)
    checkpoint.acknowledge(x, 1)
    assert.equal(checkpoint.confirmed, 1000n)
    assert.deepEqual(advances, [])
    checkpoint.open(1001n, 0)
    assert.deepEqual(advances, [1001n])
  })

  test('misuse is a programming error', () => {
    const { checkpoint } = recorded()
    const a = checkpoint.open(100n, 1)
    assert.throws(() => checkpoint.acknowledge(a, 2), /more messages than it has/)
    assert.throws(() => checkpoint.acknowledge(42, 1), /not open/)
  })

  test('oldestPendingCommitTime is the commit time of the oldest unconfirmed batch', () => {
    const { checkpoint } = recorded()
    assert.equal(checkpoint.oldestPendingCommitTime, 0)
    const a = checkpoint.open(100n, 1, 1_000)
    const b = checkpoint.open(200n, 1, 2_000)
    assert.equal(checkpoint.oldestPendingCommitTime, 1_000)
    checkpoint.acknowledge(a, 1)
    assert.equal(checkpoint.oldestPendingCommitTime, 2_000)
    checkpoint.acknowledge(b, 1)
    assert.equal(checkpoint.oldestPendingCommitTime, 0)
  })

  test('a long random interleaving: the position is always the highest commit whose whole prefix is acknowledged', () => {
    const { checkpoint, advances } = recorded(0n)
    const batches: { seq: number; lsn: bigint | null; remaining: number }[] = []
    let lsn = 0n
    let seed = 7
    const random = (n: number) => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31), seed % n)
    for (let i = 0; i < 300; i++) {
      const last = random(3) !== 0
      if (last) lsn += BigInt(1 + random(50))
      const messages = random(4)
      batches.push({ seq: checkpoint.open(last ? lsn : null, messages), lsn: last ? lsn : null, remaining: messages })
    }
    const open = () => batches.filter((b) => b.remaining > 0)
    while (open().length > 0) {
      const pick = open()[random(open().length)]
      const count = 1 + random(pick.remaining)
      pick.remaining -= count
      checkpoint.acknowledge(pick.seq, count)
      const firstOpen = batches.findIndex((b) => b.remaining > 0)
      const prefix = firstOpen === -1 ? batches : batches.slice(0, firstOpen)
      const expected = prefix.reduce((max, b) => (b.lsn !== null && b.lsn > max ? b.lsn : max), 0n)
      assert.equal(checkpoint.confirmed, expected)
    }
    for (let i = 1; i < advances.length; i++) assert.ok(advances[i] > advances[i - 1], 'strictly increasing reports')
    assert.equal(checkpoint.pendingBatches, 0)
  })
})
