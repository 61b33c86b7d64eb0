import type { Observable } from 'rxjs'
import type { Batch, OutgoingMessage, RejectedChange, SourceChange } from './changes.ts'
import type { RowcastError } from './errors.ts'
import type { Lsn } from './lsn.ts'

/**
 * The two edges of a sync, as the pipeline sees them. connectors/postgres implements ChangeSource and
 * connectors/kafka implements MessageSink; the pipeline's attempt wires one to the other through the
 * operators and the checkpoint, and unit tests hand it fakes of both.
 */

/**
 * Where row changes come from: batches in commit order (a snapshot's batches, without a commit position,
 * come first when there is one), and where the checkpoint's position goes back to. One source serves one
 * sync today; a stream shared by several syncs gives each of them a ChangeSource of its own.
 */
export interface ChangeSource {
  /** Subscribing starts reading; unsubscribing stops. Errors are RowcastErrors (retriable or not). */
  readonly batches: Observable<Batch<SourceChange>>
  /** Where reading starts: the position the checkpoint starts from. */
  readonly startPosition: Lsn
  /** Whether snapshot batches come before the stream (the sync's state is `backfilling` until the first commit). */
  readonly snapshotFirst: boolean
  /** Everything up to `position` is delivered: the source may let the server recycle it. */
  confirm(position: Lsn): void
  /** Backpressure: stop reading (and let the server see it), until resume(). */
  pause(): void
  resume(): void
  /** The sink acknowledged a request (a source pacing its own batches by what is in flight may go on). */
  delivered?(): void
  /** Releases every connection, lock and timer the source holds. Safe to call more than once. */
  close(): Promise<void>
}

/** One reading of a replication slot, from an ordinary connection: the server's view, whatever the sync does. */
export interface SlotReading {
  /** pg_current_wal_lsn() when read. */
  serverLsn: Lsn
  confirmedLsn: Lsn
  restartLsn: Lsn | null
  walStatus: string | null
  safeWalBytes: number | null
  /** From pg_stat_replication_slots (PostgreSQL 14 and later), null when absent. */
  stats: { spillTxns: number; spillBytes: number; streamTxns: number; streamBytes: number; totalTxns: number; totalBytes: number } | null
}

/** Reads slots for the slot monitor: connectors/postgres implements it, so the pipeline never imports pg. */
export interface SlotReader {
  /**
   * The slot's reading, or null when the slot does not exist. Rejects when the server cannot be asked. With
   * `sync` (one of a stream group's syncs, sharing the slot): the reading as that sync stands, at its own cursor.
   */
  read(slot: string, sync?: string): Promise<SlotReading | null>
  close(): Promise<void>
}

/** Where a stream's positions come from: they mean nothing for another server, database or slot. */
export interface SourceIdentity {
  systemId: string
  database: string
  slot: string
  /** Slots this sync streamed from before it moved into its stream group (same history: their positions are its own). */
  formerSlots?: readonly string[]
}

/** What the source needs to hear from the pipeline besides positions. */
export interface ChangeSourceEvents {
  /** The position every batch emitted so far was confirmed (delivered or dropped): nothing is in flight. */
  isIdle(): boolean
  /** A transaction begins: its id and its commit position (exactly-once numbers a split transaction's parts). */
  onBegin?(txId: number, commitLsn: Lsn): void
  /** Messages queued in the sink and not yet acknowledged. */
  inFlightMessages?(): number
}

/** A message acknowledged by Kafka, with where it landed. */
export interface DeliveredMessage {
  message: OutgoingMessage
  partition: number
  /** Its offset in the partition; -1 when the broker did not say. */
  offset: number
  commitTime: number
  bytes: number
}

/** What the sink tells the pipeline. */
export interface SinkEvents {
  /** `count` messages of the batch `ticket` were acknowledged by Kafka (or dropped by the row-error policy). */
  acknowledged(ticket: number, count: number): void
  /** Backpressure: true when an in-flight bound is reached, false when below half of it again. */
  pressure(paused: boolean): void
  /** Applies onRowError to a message the cluster cannot take: the replacement (a dead letter), undefined (skip), or throws (fail). */
  rowError(rejected: RejectedChange): OutgoingMessage | undefined
  delivered(messages: readonly DeliveredMessage[], produceLatencyMs: number): void
  /** Retrying after a Kafka failure (first failure and recovery only, not every retry). */
  degraded(error: RowcastError | null): void
  /** A request failed and will be retried (for the live debugger; optional). */
  retrying?(messages: readonly OutgoingMessage[], error: RowcastError): void
  /** A non-retriable failure: the sync must stop without confirming anything further. */
  fatal(error: Error): void
}

/** Where messages go: queued in stream order, acknowledged through SinkEvents. */
export interface MessageSink {
  /**
   * Queues a batch's messages; `ticket` identifies it to the checkpoint. Synchronous: never waits.
   * `txLsn` is the source transaction's commit position (from its BEGIN), for exactly-once; null otherwise.
   */
  enqueue(batch: Batch<OutgoingMessage>, ticket: number, txLsn: Lsn | null): void
  readonly inFlight: { messages: number; bytes: number }
  /** Resolves when everything queued was acknowledged (or the sink failed or stopped). */
  drain(): Promise<void>
  /** Stops sending and retrying; what is queued stays unacknowledged. */
  stop(): void
  /** Stops and releases the sink's connections. */
  close(): Promise<void>
}

/** The Schema Registry wire-format encoders of a sync, by topic (the encodeValue step uses them). */
export interface TopicEncoders {
  /** The encode function of a topic whose schema is ready, else undefined. */
  get(topic: string): ((value: string | Buffer) => Buffer) | undefined
  /** Registers (or looks up) the schema of these topics; resolves once each one's encoder is ready. */
  prepare(topics: readonly string[]): Promise<void>
}
