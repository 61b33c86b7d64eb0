import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RowcastError } from '../../core/errors.ts'
import { BatchOrder } from '../../pipeline/batch-order.ts'

/** Batches leave the steps in the order they entered, whole; anything else names the custom operators. */
const batch = (commitLsn: bigint | null, txId: number) => ({ items: [], commitLsn, commitTime: 0, txId })
const broken = (pattern: RegExp) => (error: unknown) => error instanceof RowcastError && error.code === 'PIPELINE_ORDER_BROKEN' && pattern.test(error.message)

test('in order, also with several batches inside at once (an asynchronous step) and parts of a large transaction', () => {
  const order = new BatchOrder([])
  for (const b of [batch(null, 7), batch(null, 7), batch(0x10n, 7), batch(0x20n, 8)]) order.enter(b)
  for (const b of [batch(null, 7), batch(null, 7), batch(0x10n, 7), batch(0x20n, 8)]) order.leave(b)
  for (let i = 1; i <= 3000; i++) order.enter(batch(BigInt(i), i))
  for (let i = 1; i <= 3000; i++) order.leave(batch(BigInt(i), i))
})

test('a batch that overtakes, a dropped batch, or a split one fails, naming the operators', () => {
  const order = new BatchOrder(['./x.ts (after composeMessage)'])
  order.enter(batch(0x10n, 1))
  order.enter(batch(0x20n, 2))
  assert.throws(() => order.leave(batch(0x20n, 2)), broken(/commit 0\/20 \(transaction 2\) left the steps before commit 0\/10 \(transaction 1\).*\.\/x\.ts \(after composeMessage\)/))

  const split = new BatchOrder([])
  split.enter(batch(0x10n, 1))
  split.leave(batch(0x10n, 1))
  assert.throws(() => split.leave(batch(0x10n, 1)), broken(/no batch was inside them.*no custom operators: a bug in rowcast/))
})
