import { EventEmitter } from 'node:events'
import type { ChangeType } from './changes.ts'

/**
 * What the running pipeline tells the outside world. The core emits these; metrics, the live debugger
 * and alerts listen. Nothing here is per row except `record`, which is only built while someone listens.
 */
export type RecordStatus = 'sent' | 'filtered' | 'rejected' | 'dead-lettered' | 'skipped' | 'retrying'
/** `parked`: a sync of a stream group set aside while it cannot deliver (the `parked` event; shown over its own state). */
export type SyncState = 'starting' | 'backfilling' | 'streaming' | 'degraded' | 'failed' | 'stopped' | 'parked'
/** What a `failed` or `degraded` state is about: each is an alert kind of its own (observability/alerts). */
export type ProblemKind = 'fatal' | 'slot-lost' | 'kafka-unreachable' | 'postgres-unreachable' | 'topic-missing' | 'registry-unreachable'

/** One row change as the debugger shows it. Row values are already redacted by the emitter. */
export interface DeliveryRecord {
  sync: string
  time: number // ms since epoch when the status was reached
  type: ChangeType
  table: string
  key: string | null // the row's key: one key column's text, or a JSON array of the key columns' texts (operators/classify.ts keyFormatter)
  row: Record<string, unknown> | null
  message: string | null // the rendered message value
  topic?: string
  partition?: number
  offset?: string
  headers?: Record<string, string>
  status: RecordStatus
  error?: string
  latencyMs?: number // PostgreSQL commit -> Kafka acknowledgement
  lsn: string
}

export interface TelemetryEvents {
  /** Row changes classified for the model, per batch. */
  received: { sync: string; counts: Record<ChangeType, number> }
  /** Row changes dropped by the sync's triggers (or by the model: update outside its columns). */
  filtered: { sync: string; count: number; reason: 'trigger' | 'unchanged' }
  /** A Kafka acknowledgement for `count` messages on `topic`. */
  produced: { sync: string; topic: string; count: number; bytes: number; produceLatencyMs: number; endToEndLatenciesMs: readonly number[] }
  rejected: { sync: string; reason: string; count: number }
  deadLettered: { sync: string; reason: string; count: number }
  truncated: { sync: string; table: string }
  inFlight: { sync: string; messages: number; bytes: number }
  paused: { sync: string; paused: boolean }
  /** Batches the checkpoint holds (opened, not yet passed by the confirmed position): bounded, or memory grows. */
  pendingBatches: { sync: string; batches: number }
  /** The slot's confirmed position moved; lag figures from the last server keep-alive. */
  checkpoint: { sync: string; lsn: bigint; lagBytes: number; lagSeconds: number }
  /** Snapshot progress (backfill, resync), per chunk: rows sent so far, the estimated total, this chunk's rows. */
  backfill: { sync: string; done: number; total: number; chunkRows?: number }
  reconnect: { sync: string; target: 'postgres' | 'kafka'; error: string }
  /**
   * State changes of a sync (not per retry). `reason` is a human sentence, free of secrets. `position`: for a
   * failure stuck at a known place in the stream (a row error), the LSN the sync must deliver past to recover.
   */
  state: { sync: string; state: SyncState; reason?: string; kind?: ProblemKind; position?: bigint }
  /** A sync taken out of the config of a running daemon (reload): stopped, and forgotten by status and readiness. */
  syncRemoved: { sync: string }
  /**
   * Its stream group parked the sync (`parked` true): the group's other syncs go on, and the slot stays at
   * `position` for it, so PostgreSQL keeps WAL from there. False once it caught up again (or its attempt ended).
   */
  parked: { sync: string; slot: string; parked: boolean; position: bigint }
  /** The slot as the server sees it, read on a timer whatever the sync is doing (pipeline/slot-monitor.ts). */
  slotHealth: SlotHealthEvent
  record: DeliveryRecord
}

export interface SlotHealthEvent {
  sync: string
  slot: string
  /** The server's WAL position minus the slot's confirmed position. */
  lagBytes: number
  /** How long ago the server's WAL was last at the confirmed position (0 when caught up). */
  lagSeconds: number
  /** WAL the slot makes the server keep: its position minus the slot's restart_lsn. */
  retainedBytes: number
  /** pg_replication_slots.wal_status: reserved, extended, unreserved or lost. */
  walStatus: string | null
  /** pg_replication_slots.safe_wal_size: bytes that can still be written before the slot is invalidated (null: no limit). */
  safeWalBytes: number | null
  /** pg_stat_replication_slots counters since the slot's statistics were last reset (null when the server has none). */
  stats: SlotStats | null
}

export interface SlotStats {
  spillTxns: number
  spillBytes: number
  streamTxns: number
  streamBytes: number
  totalTxns: number
  totalBytes: number
}

export type TelemetryEvent = keyof TelemetryEvents

export class Telemetry {
  readonly #emitter = new EventEmitter()

  constructor() {
    this.#emitter.setMaxListeners(100)
  }

  emit<E extends TelemetryEvent>(event: E, payload: TelemetryEvents[E]): void {
    this.#emitter.emit(event, payload)
  }

  on<E extends TelemetryEvent>(event: E, listener: (payload: TelemetryEvents[E]) => void): () => void {
    this.#emitter.on(event, listener)
    return () => this.#emitter.off(event, listener)
  }

  /** Per-row records cost; emitters check this before building one. */
  get wantsRecords(): boolean {
    return this.#emitter.listenerCount('record') > 0
  }
}
