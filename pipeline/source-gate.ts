import type { ChangeSource } from '../core/contracts.ts'
import type { DeliveryRecords } from './delivery-records.ts'

/** What may hold reading from PostgreSQL: the sink's in-flight bound, the checkpoint's batch bound, a pending registration. */
export type PauseReason = 'sink' | 'checkpoint' | 'registry'

/** The default bound on batches the checkpoint holds: the default bound on messages in flight. */
export const DEFAULT_MAX_PENDING_BATCHES = 4_000

/**
 * The one place that pauses and resumes an attempt's source. Each bound holds it for its own reason; reading
 * resumes only when no reason is left (a sink that drains must not resume a source the checkpoint still holds).
 * Checkpoint entries count too: a run of filtered-out batches is merged into one, but batches with messages
 * alternating with filtered ones are two entries per message, so the batches held are bounded on their own,
 * released at half the bound like in-flight messages.
 */
export class SourceGate {
  readonly #source: Pick<ChangeSource, 'pause' | 'resume'>
  readonly #records: Pick<DeliveryRecords, 'paused' | 'pendingBatches'>
  readonly #closing: () => boolean
  readonly #maxPendingBatches: number
  readonly #held = new Set<PauseReason>()
  #pending = 0

  constructor(source: Pick<ChangeSource, 'pause' | 'resume'>, records: Pick<DeliveryRecords, 'paused' | 'pendingBatches'>, options: { closing: () => boolean; maxPendingBatches?: number }) {
    this.#source = source
    this.#records = records
    this.#closing = options.closing
    this.#maxPendingBatches = options.maxPendingBatches ?? DEFAULT_MAX_PENDING_BATCHES
  }

  get paused(): boolean {
    return this.#held.size > 0
  }

  /** Holds (or releases) the source for `reason`. */
  hold(reason: PauseReason, held: boolean): void {
    const before = this.#held.size > 0
    if (held) this.#held.add(reason)
    else this.#held.delete(reason)
    const after = this.#held.size > 0
    if (before === after) return
    this.#records.paused(after)
    if (after) this.#source.pause()
    else if (!this.#closing()) this.#source.resume()
  }

  /** The checkpoint now holds `batches`: reported, and held at the bound until down to half of it. */
  pendingBatches(batches: number): void {
    if (batches === this.#pending) return
    this.#pending = batches
    this.#records.pendingBatches(batches)
    if (batches >= this.#maxPendingBatches) this.hold('checkpoint', true)
    else if (batches <= this.#maxPendingBatches / 2) this.hold('checkpoint', false)
  }
}
