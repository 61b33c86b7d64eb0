import assert from 'node:assert/strict'
import { TestScheduler } from 'rxjs/testing'
import type { Batch } from '../../core/changes.ts'

/** A TestScheduler whose frames are compared with node's deepStrictEqual. */
export function marbles(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepStrictEqual(actual, expected))
}

export function batch<T>(items: T[], commitLsn: bigint | null = 100n, txId = 1): Batch<T> {
  return { items, commitLsn, commitTime: 1_714_564_800_000, txId }
}
