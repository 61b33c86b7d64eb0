import type { Batch, OutgoingMessage } from '../../core/changes.ts'
import type { SinkEvents } from '../../core/contracts.ts'
import type { Lsn } from '../../core/lsn.ts'
import { messageSize, sumOf } from './message-size.ts'

export interface InFlightLimits {
  /** Past either bound the source is paused, until in-flight is down to half of both. */
  maxInFlightMessages: number
  maxInFlightBytes: number
}

/**
 * A batch in the sink. What the sink learns about each message, its size and its partition, is kept here
 * in arrays parallel to `messages`: the messages themselves are never written to.
 */
export interface QueueEntry {
  readonly ticket: number
  /** The batch's messages; once prepared, the ones to send (row errors dropped, or replaced by dead letters). */
  messages: readonly OutgoingMessage[]
  sizes: readonly number[]
  /** Each message's partition, resolved by preparation; empty before. */
  partitions: readonly number[]
  /** Index of the first message not yet sent (or skipped). */
  next: number
  readonly commitTime: number
  readonly commitLsn: Lsn | null
  /** The source transaction's commit LSN (from its BEGIN), on every chunk; null for backfill batches. */
  readonly txLsn: Lsn | null
  /** Messages of the same source transaction in earlier entries (exactly-once partial progress). */
  txOffset: number
  prepared: boolean
}

/** Messages `[from, to)` of an entry, as one produce request carries them. */
export interface RequestPart {
  entry: QueueEntry
  from: number
  to: number
}

/** An entry's messages after preparation, with their sizes and partitions. */
export interface PreparedMessages {
  messages: OutgoingMessage[]
  sizes: number[]
  partitions: number[]
}

/**
 * The sink's queue of batches, in stream order, and what is in flight (queued and not yet acknowledged).
 * It reports pressure at the in-flight bound and its release below half of it, and tells the checkpoint
 * how many messages of each batch are done.
 */
export class SendQueue {
  readonly #entries: QueueEntry[] = []
  readonly #limits: InFlightLimits
  readonly #events: Pick<SinkEvents, 'acknowledged' | 'pressure'>
  #messages = 0
  #bytes = 0
  #paused = false

  constructor(limits: InFlightLimits, events: Pick<SinkEvents, 'acknowledged' | 'pressure'>) {
    this.#limits = limits
    this.#events = events
  }

  /** Head first. */
  get entries(): readonly QueueEntry[] {
    return this.#entries
  }

  get inFlight(): { messages: number; bytes: number } {
    return { messages: this.#messages, bytes: this.#bytes }
  }

  push(batch: Batch<OutgoingMessage>, ticket: number, txLsn: Lsn | null): void {
    const sizes = batch.items.map((message) => messageSize(message))
    this.#entries.push({ ticket, messages: batch.items, sizes, partitions: [], next: 0, commitTime: batch.commitTime, commitLsn: batch.commitLsn, txLsn, txOffset: 0, prepared: false })
    this.#messages += batch.items.length
    this.#bytes += sumOf(sizes)
    this.#updatePressure()
  }

  /** Puts the prepared messages in the entry's place; the ones the row-error policy dropped are done. */
  prepared(entry: QueueEntry, prepared: PreparedMessages): void {
    const dropped = entry.messages.length - prepared.messages.length
    // A dead letter replaces its message with a size of its own: in-flight counts what is now to be sent.
    const bytes = sumOf(entry.sizes) - sumOf(prepared.sizes)
    entry.messages = prepared.messages
    entry.sizes = prepared.sizes
    entry.partitions = prepared.partitions
    entry.prepared = true
    if (dropped > 0) this.settle(entry, dropped, bytes)
    else if (bytes !== 0) this.#release(0, bytes)
  }

  /** `count` messages (`bytes` in all) of an entry are done (sent, skipped or dropped): in-flight shrinks, the checkpoint hears of it. */
  settle(entry: QueueEntry, count: number, bytes: number): void {
    const entries = this.#entries
    while (entries.length > 0 && entries[0].prepared && entries[0].next >= entries[0].messages.length) entries.shift()
    this.#release(count, bytes)
    this.#events.acknowledged(entry.ticket, count)
  }

  #release(count: number, bytes: number): void {
    this.#messages -= count
    this.#bytes -= bytes
    this.#updatePressure()
  }

  #updatePressure(): void {
    const { maxInFlightMessages, maxInFlightBytes } = this.#limits
    if (!this.#paused && (this.#messages >= maxInFlightMessages || this.#bytes >= maxInFlightBytes)) {
      this.#paused = true
      this.#events.pressure(true)
    } else if (this.#paused && this.#messages <= maxInFlightMessages / 2 && this.#bytes <= maxInFlightBytes / 2) {
      this.#paused = false
      this.#events.pressure(false)
    }
  }
}
