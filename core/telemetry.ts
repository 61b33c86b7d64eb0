import { EventEmitter } from 'node:events'
import type { ChangeType } from './changes.ts'

/**
 * What the running pipeline tells the outside world. The core emits these; metrics, the live debugger
 * and alerts listen. Nothing here is per row except `record`, which is only built while someone listens.
 */
export type RecordStatus = 'sent' | 'filtered' | 'rejected' | 'dead-lettered' | 'skipped' | 'retrying'
export type SyncState = 'starting' | 'backfilling' | 'streaming' | 'degraded' | 'failed' | 'stopped'

/** One row change as the debugger shows it. Row values are already redacted by the emitter. */
export interface DeliveryRecord {
  sync: string
  time: number // ms since epoch when the status was reached
  type: ChangeType
  table: string
  key: string | null // the row's primary key values as text, joined by ','
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
  backfill: { sync: string; done: number; total: number }
  reconnect: { sync: string; target: 'postgres' | 'kafka'; error: string }
  /** State changes of a sync (not per retry). `reason` is a human sentence, free of secrets. */
  state: { sync: string; state: SyncState; reason?: string; kind?: 'fatal' | 'kafka-unreachable' | 'row-errors' | 'lag' }
  record: DeliveryRecord
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
