import type { SnapshotProgress } from './snapshot-state.ts'

/** A chunk of the run whose high watermark Kafka acknowledged. */
export interface DeliveredChunk {
  seq: number
  /** Where the snapshot stands once it is delivered (null: where it stood). */
  end: string[] | null
  sent: number
  last: boolean
}

/**
 * The position a snapshot run may record: chunks are numbered in plan order from 0, and with several
 * readers they are delivered out of order; the position is that of the longest run of delivered chunks
 * from the start (a chunk delivered after a gap waits, and is read again should the daemon stop before
 * the gap fills). Pure: the coordinator records what `deliver` returns.
 */
export class ChunkProgress {
  readonly #waiting = new Map<number, DeliveredChunk>()
  #next = 0
  #position: SnapshotProgress

  constructor(from: SnapshotProgress) {
    this.#position = from
  }

  /** Chunks delivered (any order): the new position when the run from the start grew, with whether it reached the last chunk; else null. */
  deliver(chunks: readonly DeliveredChunk[]): { progress: SnapshotProgress; last: boolean } | null {
    for (const chunk of chunks) this.#waiting.set(chunk.seq, chunk)
    let advanced = false
    let last = false
    for (let next = this.#waiting.get(this.#next); next !== undefined; next = this.#waiting.get(this.#next)) {
      this.#waiting.delete(this.#next++)
      this.#position = { ...this.#position, after: next.end ?? this.#position.after, rows: this.#position.rows + next.sent }
      advanced = true
      last ||= next.last
    }
    return advanced ? { progress: this.#position, last } : null
  }

  /** Where the run from the start ends. */
  get position(): SnapshotProgress {
    return this.#position
  }

  /** Whether no chunk delivered waits behind a gap. */
  get gapless(): boolean {
    return this.#waiting.size === 0
  }

  /** Chunks delivered so far, in or out of the run from the start. */
  get delivered(): number {
    return this.#next + this.#waiting.size
  }
}
