import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { SyncState, Telemetry } from '../core/telemetry.ts'
import { registerSlotMetrics } from './slot-metrics.ts'

/**
 * Prometheus metrics of the daemon, fed only by telemetry events. One Registry per daemon (never the global one),
 * every name prefixed `rowcast_` and labelled by `sync`. Counters move once per telemetry event (a batch), histograms
 * observe per message only for end-to-end latency, which the core already reports per batch as an array.
 */
export interface Metrics {
  registry: Registry
  /** The last `state` of every sync that reported one (readiness is derived from it). */
  syncStates(): ReadonlyMap<string, SyncState>
  close(): void
}

export const SYNC_STATES: readonly SyncState[] = ['starting', 'backfilling', 'streaming', 'degraded', 'failed', 'stopped', 'parked']

/** 1 ms … 60 s: the range between a quiet local stack and a badly lagging one. */
const END_TO_END_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const PRODUCE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export function createMetrics(telemetry: Telemetry): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'rowcast_' })
  const m = defineMetrics(registry)
  const states = new Map<string, SyncState>()
  // A parked sync shows `parked` over the state its attempt reports, until it caught up again.
  const reported = new Map<string, SyncState>()
  const parked = new Set<string>()
  const show = (sync: string) => {
    const state = parked.has(sync) ? 'parked' : reported.get(sync)
    if (state === undefined) return
    states.set(sync, state)
    for (const s of SYNC_STATES) m.state.set({ sync, state: s }, s === state ? 1 : 0)
  }
  const lastDelivery = new Map<string, number>()
  new Gauge({
    name: 'rowcast_seconds_since_last_delivery',
    help: 'Seconds since Kafka last acknowledged a message of the sync (since the sync started, before its first).',
    labelNames: ['sync'],
    registers: [registry],
    collect() {
      const now = Date.now()
      this.reset() // a sync removed by a reload leaves no stale series
      for (const [sync, at] of lastDelivery) this.set({ sync }, (now - at) / 1000)
    },
  })

  const off = [
    telemetry.on('received', ({ sync, counts }) => {
      for (const [type, count] of Object.entries(counts)) if (count > 0) m.received.inc({ sync, type }, count)
    }),
    telemetry.on('filtered', ({ sync, count, reason }) => m.filtered.inc({ sync, reason }, count)),
    telemetry.on('produced', ({ sync, topic, count, bytes, produceLatencyMs, endToEndLatenciesMs }) => {
      lastDelivery.set(sync, Date.now())
      m.produced.inc({ sync, topic }, count)
      m.producedBytes.inc({ sync, topic }, bytes)
      m.produceLatency.observe({ sync }, produceLatencyMs / 1000)
      const endToEnd = m.endToEndLatency.labels({ sync })
      for (const ms of endToEndLatenciesMs) endToEnd.observe(ms / 1000)
    }),
    telemetry.on('rejected', ({ sync, reason, count }) => m.rejected.inc({ sync, reason }, count)),
    telemetry.on('deadLettered', ({ sync, reason, count }) => m.deadLettered.inc({ sync, reason }, count)),
    telemetry.on('truncated', ({ sync, table }) => m.truncates.inc({ sync, table })),
    telemetry.on('inFlight', ({ sync, messages, bytes }) => {
      m.inFlightMessages.set({ sync }, messages)
      m.inFlightBytes.set({ sync }, bytes)
    }),
    telemetry.on('paused', ({ sync, paused }) => m.paused.set({ sync }, paused ? 1 : 0)),
    telemetry.on('pendingBatches', ({ sync, batches }) => m.pendingBatches.set({ sync }, batches)),
    telemetry.on('checkpoint', ({ sync, lsn }) => m.confirmedLsn.set({ sync }, Number(lsn))),
    registerSlotMetrics(registry, telemetry),
    telemetry.on('backfill', ({ sync, done, total, chunkRows }) => {
      m.backfillDone.set({ sync }, done)
      m.backfillTotal.set({ sync }, total)
      m.snapshotRows.inc({ sync }, chunkRows ?? 0)
      m.snapshotChunks.inc({ sync })
      m.snapshotRemaining.set({ sync }, Math.max(0, total - done))
    }),
    telemetry.on('reconnect', ({ sync, target }) => m.reconnects.inc({ sync, target })),
    telemetry.on('state', ({ sync, state }) => {
      if (!lastDelivery.has(sync)) lastDelivery.set(sync, Date.now()) // counted from the sync's start until it delivers
      reported.set(sync, state)
      show(sync)
    }),
    telemetry.on('parked', ({ sync, parked: on }) => {
      if (on) parked.add(sync)
      else parked.delete(sync)
      show(sync)
    }),
    telemetry.on('syncRemoved', ({ sync }) => {
      states.delete(sync)
      reported.delete(sync)
      parked.delete(sync)
      lastDelivery.delete(sync)
      for (const s of SYNC_STATES) m.state.remove({ sync, state: s })
    }),
  ]

  return {
    registry,
    syncStates: () => states,
    close() {
      for (const unsubscribe of off) unsubscribe()
      registry.clear()
    },
  }
}

function defineMetrics(registry: Registry) {
  const registers = [registry]
  const counter = (name: string, help: string, labelNames: string[]) => new Counter({ name, help, labelNames, registers })
  const gauge = (name: string, help: string, labelNames: string[] = ['sync']) => new Gauge({ name, help, labelNames, registers })
  return {
    received: counter('rowcast_row_changes_received_total', 'Row changes read from PostgreSQL for a sync, by change type (added, changed, removed).', ['sync', 'type']),
    filtered: counter('rowcast_row_changes_filtered_total', 'Row changes dropped before Kafka, by reason (trigger: excluded by the sync triggers; unchanged: update outside the model columns).', ['sync', 'reason']),
    produced: counter('rowcast_messages_produced_total', 'Messages acknowledged by Kafka, by topic.', ['sync', 'topic']),
    producedBytes: counter('rowcast_produced_bytes_total', 'Bytes of the messages acknowledged by Kafka, by topic.', ['sync', 'topic']),
    rejected: counter('rowcast_rows_rejected_total', 'Row changes that could not be delivered, by reason.', ['sync', 'reason']),
    deadLettered: counter('rowcast_rows_dead_lettered_total', 'Row changes sent to the dead-letter topic, by reason.', ['sync', 'reason']),
    truncates: counter('rowcast_truncates_total', 'TRUNCATE statements seen on a source table.', ['sync', 'table']),
    produceLatency: new Histogram({ name: 'rowcast_kafka_produce_latency_seconds', help: 'Time from sending a batch to Kafka to its acknowledgement.', labelNames: ['sync'], buckets: PRODUCE_BUCKETS, registers }),
    endToEndLatency: new Histogram({ name: 'rowcast_end_to_end_latency_seconds', help: 'Time from the PostgreSQL commit of a row change to the Kafka acknowledgement of its message (snapshot rows are not timed).', labelNames: ['sync'], buckets: END_TO_END_BUCKETS, registers }),
    inFlightMessages: gauge('rowcast_in_flight_messages', 'Messages sent to Kafka and not yet acknowledged.'),
    inFlightBytes: gauge('rowcast_in_flight_bytes', 'Bytes sent to Kafka and not yet acknowledged.'),
    pendingBatches: gauge('rowcast_checkpoint_pending_batches', 'Batches opened in the checkpoint and not yet confirmed (a run of filtered-out batches counts once).'),
    paused: gauge('rowcast_paused', '1 while reading from PostgreSQL is paused by backpressure, else 0.'),
    confirmedLsn: gauge('rowcast_confirmed_lsn', 'Last LSN confirmed to the replication slot, as a number (exact up to 2^53).'),
    backfillDone: gauge('rowcast_backfill_rows_done', 'Rows read so far by the running or last backfill.'),
    backfillTotal: gauge('rowcast_backfill_rows_total', 'Rows the running or last backfill has to read.'),
    snapshotRows: counter('rowcast_snapshot_rows_total', 'Rows sent by snapshots (backfill, resync) read in chunks beside the stream.', ['sync']),
    snapshotChunks: counter('rowcast_snapshot_chunks_total', 'Snapshot chunks placed in the stream.', ['sync']),
    snapshotRemaining: gauge('rowcast_snapshot_remaining_rows', 'Rows the running snapshot has left, by the estimate of pg_class.reltuples (0 when done).'),
    reconnects: counter('rowcast_reconnects_total', 'Reconnections after a lost connection, by target (postgres, kafka).', ['sync', 'target']),
    state: gauge('rowcast_sync_state', 'Current state of a sync: 1 for the current state, 0 for the others.', ['sync', 'state']),
  }
}
