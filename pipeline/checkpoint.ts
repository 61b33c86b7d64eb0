/**
 * The ordered checkpoint: the one place that decides which LSN the slot may confirm. Every batch that
 * reaches the sink is opened here in stream order with its message count; the confirmed position moves
 * to a transaction's commit end only when that batch and every earlier one are fully acknowledged
 * (a batch with no messages — all filtered — counts as acknowledged at once).
 *
 * While the head waits (Kafka down), filtered-out batches would pile up one entry each, without bound on a busy
 * table whose changes the triggers drop: an empty batch behind a finished entry joins that entry instead (its
 * commit position becomes the entry's), so a run of them costs one entry.
 */
export class Checkpoint {
  readonly #open = new Map<number, { commitLsn: bigint | null; remaining: number; commitTime: number }>()
  readonly #onAdvance: (lsn: bigint) => void
  #nextSeq = 0
  #lowestSeq = 0
  #confirmed: bigint

  constructor(start: bigint, onAdvance: (lsn: bigint) => void) {
    this.#confirmed = start
    this.#onAdvance = onAdvance
  }

  /** Registers the next batch; returns its sequence number for `acknowledge` (an empty batch may share an earlier one's). */
  open(commitLsn: bigint | null, messages: number, commitTime = 0): number {
    if (messages === 0) {
      const last = this.#open.get(this.#nextSeq - 1) // present only behind a waiting batch: done ones at the head are gone
      if (last !== undefined && last.remaining === 0) {
        if (commitLsn !== null && (last.commitLsn === null || commitLsn > last.commitLsn)) last.commitLsn = commitLsn
        return this.#nextSeq - 1
      }
    }
    const seq = this.#nextSeq++
    this.#open.set(seq, { commitLsn, remaining: messages, commitTime })
    if (messages === 0) this.#advance()
    return seq
  }

  /** `count` messages of batch `seq` were acknowledged by Kafka (or deliberately dropped). */
  acknowledge(seq: number, count: number): void {
    const entry = this.#open.get(seq)
    if (entry === undefined) throw new Error(`checkpoint: batch ${seq} is not open`)
    entry.remaining -= count
    if (entry.remaining < 0) throw new Error(`checkpoint: batch ${seq} acknowledged more messages than it has`)
    if (entry.remaining === 0 && seq === this.#lowestSeq) this.#advance()
  }

  get confirmed(): bigint {
    return this.#confirmed
  }

  /** Batches opened but not yet passed by the confirmed position. */
  get pendingBatches(): number {
    return this.#open.size
  }

  /** Commit time of the oldest batch not yet confirmed (0 when none): the age of replication lag. */
  get oldestPendingCommitTime(): number {
    return this.#open.get(this.#lowestSeq)?.commitTime ?? 0
  }

  #advance(): void {
    let moved = false
    for (;;) {
      const entry = this.#open.get(this.#lowestSeq)
      if (entry === undefined || entry.remaining > 0) break
      this.#open.delete(this.#lowestSeq)
      this.#lowestSeq++
      if (entry.commitLsn !== null && entry.commitLsn > this.#confirmed) {
        this.#confirmed = entry.commitLsn
        moved = true
      }
    }
    if (moved) this.#onAdvance(this.#confirmed)
  }
}
