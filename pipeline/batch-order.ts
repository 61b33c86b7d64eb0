import type { Batch } from '../core/changes.ts'
import { RowcastError } from '../core/errors.ts'
import { formatLsn } from '../core/lsn.ts'

/**
 * The checkpoint confirms positions in the order batches are opened, so batches must leave the steps in the
 * order they entered: one that overtakes an earlier one (a custom operator with mergeMap and delays, or
 * buffering) would get its later commit confirmed while the earlier one is still in flight. Each batch
 * leaving is checked against the oldest one still inside (its commit position and transaction); a batch
 * out of order, dropped or split fails the sync before it is opened.
 */
export class BatchOrder {
  readonly #operators: readonly string[]
  #inside: { commitLsn: bigint | null; txId: number }[] = []
  #head = 0

  constructor(customOperators: readonly string[]) {
    this.#operators = customOperators
  }

  enter(batch: Batch<unknown>): void {
    this.#inside.push({ commitLsn: batch.commitLsn, txId: batch.txId })
  }

  /** Throws PIPELINE_ORDER_BROKEN when `batch` is not the oldest batch still inside the steps. */
  leave(batch: Batch<unknown>): void {
    const expected = this.#inside[this.#head]
    if (expected === undefined || expected.commitLsn !== batch.commitLsn || expected.txId !== batch.txId) {
      throw new RowcastError('PIPELINE_ORDER_BROKEN', this.#describe(batch, expected))
    }
    this.#head++
    // Usually one batch is inside at a time: reset, or compact once the consumed head is large.
    if (this.#head === this.#inside.length) {
      this.#inside = []
      this.#head = 0
    } else if (this.#head > 1024) {
      this.#inside = this.#inside.slice(this.#head)
      this.#head = 0
    }
  }

  #describe(batch: Batch<unknown>, expected: { commitLsn: bigint | null; txId: number } | undefined): string {
    const name = (b: { commitLsn: bigint | null; txId: number }) => (b.commitLsn === null ? `a part of transaction ${b.txId}` : `commit ${formatLsn(b.commitLsn)} (transaction ${b.txId})`)
    const what = expected === undefined ? `${name(batch)} left the steps, but no batch was inside them` : `${name(batch)} left the steps before ${name(expected)}`
    const who = this.#operators.length === 0 ? 'the sync has no custom operators: a bug in rowcast, please report it' : `the sync's custom operators: ${this.#operators.join(', ')}`
    return `batches out of order: ${what}; positions could be confirmed past a batch not yet delivered, so the sync stops (${who}). Operators must pass every batch on, in order, whole (concatMap, not mergeMap)`
  }
}
