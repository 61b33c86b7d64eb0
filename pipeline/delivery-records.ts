import { SNAPSHOT_ROW_LSN, type ModelChange, type OutgoingMessage, type RejectedChange } from '../core/changes.ts'
import type { DeliveredMessage } from '../core/contracts.ts'
import type { RowcastError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { Telemetry } from '../core/telemetry.ts'
import { rowFailure } from '../operators/handle-row-errors.ts'

/** Debugger records per failed request: enough to see what waits, not a flood during an outage. */
const RETRYING_RECORDS = 20

/**
 * What one sync tells the outside world, shaped into telemetry events: counts per batch for metrics and
 * alerts, and per-row records for the live debugger only while someone listens (`telemetry.wantsRecords`).
 */
export class DeliveryRecords {
  readonly #sync: string
  readonly #telemetry: Telemetry
  readonly #logger: Logger

  constructor(sync: string, telemetry: Telemetry, logger: Logger) {
    this.#sync = sync
    this.#telemetry = telemetry
    this.#logger = logger
  }

  get wantsRecords(): boolean {
    return this.#telemetry.wantsRecords
  }

  /** Messages Kafka acknowledged: counts, bytes and latencies per topic, and the debugger's records. */
  delivered(delivered: readonly DeliveredMessage[], produceLatencyMs: number, inFlight: { messages: number; bytes: number }): void {
    const telemetry = this.#telemetry
    const sync = this.#sync
    const now = Date.now()
    const byTopic = new Map<string, { count: number; bytes: number; latencies: number[] }>()
    const received = { added: 0, changed: 0, removed: 0 }
    for (const d of delivered) {
      let t = byTopic.get(d.message.topic)
      if (t === undefined) byTopic.set(d.message.topic, (t = { count: 0, bytes: 0, latencies: [] }))
      t.count++
      t.bytes += d.bytes
      // Commit → ack of changes only: a snapshot row has no commit (its batch's time is when it was sent), and
      // a backfill's many fast rows would hide the live stream's latency while it runs.
      if (d.commitTime > 0 && d.message.change.lsn !== SNAPSHOT_ROW_LSN) t.latencies.push(now - d.commitTime)
      received[d.message.change.type]++
    }
    for (const [topic, t] of byTopic) telemetry.emit('produced', { sync, topic, count: t.count, bytes: t.bytes, produceLatencyMs, endToEndLatenciesMs: t.latencies })
    telemetry.emit('received', { sync, counts: received })
    telemetry.emit('inFlight', { sync, ...inFlight })
    if (!telemetry.wantsRecords) return
    for (const d of delivered) {
      const m = d.message
      telemetry.emit('record', {
        sync, time: now, type: m.change.type, table: m.change.table, key: m.change.key, row: m.change.row,
        message: messageText(m), topic: m.topic, partition: d.partition, offset: d.offset < 0 ? '' : String(d.offset),
        ...(m.headers === null ? {} : { headers: m.headers }),
        status: m.deadLetter === undefined ? 'sent' : 'dead-lettered',
        ...(m.deadLetter === undefined ? {} : { error: m.deadLetter.error }),
        ...(d.commitTime > 0 ? { latencyMs: now - d.commitTime } : {}), lsn: m.change.lsn,
      })
    }
  }

  /** The debugger shows messages waiting on a failed request (a sample: the first of each retry). */
  retrying(messages: readonly OutgoingMessage[], error: RowcastError): void {
    const now = Date.now()
    for (const m of messages.slice(0, RETRYING_RECORDS)) {
      this.#telemetry.emit('record', {
        sync: this.#sync, time: now, type: m.change.type, table: m.change.table, key: m.change.key, row: m.change.row,
        message: messageText(m), topic: m.topic,
        ...(m.partition === null ? {} : { partition: m.partition }), ...(m.headers === null ? {} : { headers: m.headers }),
        status: 'retrying', error: error.message, lsn: m.change.lsn,
      })
    }
  }

  /** The debugger shows what the triggers dropped, too: deliberately not sent, with the reason. */
  filteredOut(changes: readonly ModelChange[]): void {
    const now = Date.now()
    for (const change of changes) {
      this.#telemetry.emit('record', {
        sync: this.#sync, time: now, type: change.type, table: change.table, key: change.key, row: change.row,
        message: null, status: 'filtered', error: `${change.type} is not one of the sync's triggers`, lsn: change.lsn,
      })
    }
  }

  filtered(count: number, reason: 'trigger' | 'unchanged'): void {
    this.#telemetry.emit('filtered', { sync: this.#sync, count, reason })
  }

  /** A row error handled by onRowError (skipped, dead-lettered) or failing the sync (rejected). */
  rejected(rejected: RejectedChange, status: 'skipped' | 'dead-lettered' | 'rejected'): void {
    const telemetry = this.#telemetry
    const sync = this.#sync
    if (status === 'dead-lettered') telemetry.emit('deadLettered', { sync, reason: rejected.reason, count: 1 })
    else telemetry.emit('rejected', { sync, reason: rejected.reason, count: 1 })
    this.#logger.warn({ key: rejected.change.key, lsn: rejected.change.lsn, reason: rejected.reason, policy: status }, rowFailure(sync, rejected).message)
    if (!telemetry.wantsRecords) return
    telemetry.emit('record', {
      sync, time: Date.now(), type: rejected.change.type, table: rejected.change.table, key: rejected.change.key,
      row: rejected.change.row, message: null, status, error: rejected.error.message, lsn: rejected.change.lsn,
    })
  }

  truncated(tables: readonly string[]): void {
    for (const table of tables) {
      this.#logger.warn({ table }, 'TRUNCATE of a model table: no messages are emitted for the removed rows (resync to re-send the model)')
      this.#telemetry.emit('truncated', { sync: this.#sync, table })
    }
  }

  snapshotProgress(done: number, total: number, chunkRows: number): void {
    this.#telemetry.emit('backfill', { sync: this.#sync, done, total, chunkRows })
  }

  checkpoint(lsn: bigint, lagBytes: number, lagSeconds: number): void {
    this.#telemetry.emit('checkpoint', { sync: this.#sync, lsn, lagBytes, lagSeconds })
  }

  inFlight(inFlight: { messages: number; bytes: number }): void {
    this.#telemetry.emit('inFlight', { sync: this.#sync, ...inFlight })
  }

  pendingBatches(batches: number): void {
    this.#telemetry.emit('pendingBatches', { sync: this.#sync, batches })
  }

  paused(paused: boolean): void {
    this.#telemetry.emit('paused', { sync: this.#sync, paused })
  }

  /** Its stream group parked the sync, holding `slot` at `position`, or it caught up (false). */
  parked(slot: string, parked: boolean, position: bigint): void {
    this.#telemetry.emit('parked', { sync: this.#sync, slot, parked, position })
  }
}

function messageText(m: OutgoingMessage): string {
  return typeof m.value === 'string' ? m.value : `(${m.value.length} bytes)`
}
