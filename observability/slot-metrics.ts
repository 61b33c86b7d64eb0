import { Counter, Gauge, type Registry } from 'prom-client'
import type { SlotStats, Telemetry } from '../core/telemetry.ts'

/** pg_replication_slots.wal_status values: one series each, 1 for the current one. */
const WAL_STATUSES = ['reserved', 'extended', 'unreserved', 'lost'] as const

/** pg_stat_replication_slots columns as Prometheus counters (cumulative on the server, reset only by pg_stat_reset_replication_slot). */
const STAT_COUNTERS: readonly { field: keyof SlotStats; name: string; help: string }[] = [
  { field: 'spillTxns', name: 'rowcast_slot_spill_txns_total', help: 'Transactions the slot spilled to disk on the server (logical_decoding_work_mem exceeded).' },
  { field: 'spillBytes', name: 'rowcast_slot_spill_bytes_total', help: 'Bytes of decoded changes the slot spilled to disk on the server.' },
  { field: 'streamTxns', name: 'rowcast_slot_stream_txns_total', help: 'In-progress transactions the slot streamed (streaming of large transactions).' },
  { field: 'streamBytes', name: 'rowcast_slot_stream_bytes_total', help: 'Bytes of in-progress transactions the slot streamed.' },
  { field: 'totalTxns', name: 'rowcast_slot_txns_total', help: 'Transactions the slot decoded and sent.' },
  { field: 'totalBytes', name: 'rowcast_slot_decoded_bytes_total', help: 'Bytes of transactions the slot decoded and sent.' },
]

/**
 * Slot health from the slot monitor's `slotHealth` telemetry (read on a timer, from the server's view): lag, WAL
 * retained, WAL status, how much can still be written before invalidation, and the decoding statistics. The
 * server's cumulative statistics become counters by their increase; a reset on the server counts as a restart.
 */
export function registerSlotMetrics(registry: Registry, telemetry: Telemetry): () => void {
  const registers = [registry]
  const labelNames = ['sync', 'slot']
  const lagBytes = new Gauge({ name: 'rowcast_replication_lag_bytes', help: 'Replication lag of the sync in bytes of WAL: the server\'s position (pg_current_wal_lsn) minus the slot\'s confirmed position, read on a timer.', labelNames: ['sync'], registers })
  const lagSeconds = new Gauge({ name: 'rowcast_replication_lag_seconds', help: 'Replication lag of the sync in seconds: how long ago the server\'s WAL was at the slot\'s confirmed position.', labelNames: ['sync'], registers })
  const retained = new Gauge({ name: 'rowcast_slot_retained_wal_bytes', help: 'WAL the slot makes PostgreSQL keep: the server\'s position minus the slot\'s restart_lsn.', labelNames, registers })
  const safe = new Gauge({ name: 'rowcast_slot_safe_wal_bytes', help: 'pg_replication_slots.safe_wal_size: WAL that can still be written before the slot is invalidated (only with max_slot_wal_keep_size).', labelNames, registers })
  const status = new Gauge({ name: 'rowcast_slot_wal_status', help: 'pg_replication_slots.wal_status of the slot: 1 for the current status, 0 for the others (lost: invalidated).', labelNames: [...labelNames, 'status'], registers })
  const counters = STAT_COUNTERS.map(({ field, name, help }) => ({ field, counter: new Counter({ name, help, labelNames, registers }) }))
  const lastStats = new Map<string, SlotStats>()

  return telemetry.on('slotHealth', (e) => {
    const labels = { sync: e.sync, slot: e.slot }
    lagBytes.set({ sync: e.sync }, e.lagBytes)
    lagSeconds.set({ sync: e.sync }, e.lagSeconds)
    retained.set(labels, e.retainedBytes)
    if (e.safeWalBytes === null) safe.remove(labels)
    else safe.set(labels, e.safeWalBytes)
    for (const s of WAL_STATUSES) status.set({ ...labels, status: s }, s === e.walStatus ? 1 : 0)
    if (e.stats === null) return
    const key = `${e.sync}\u0000${e.slot}`
    const before = lastStats.get(key)
    for (const { field, counter } of counters) {
      const now = e.stats[field]
      const was = before?.[field] ?? 0
      counter.inc(labels, now >= was ? now - was : now) // lower than before: reset on the server, counting again from 0
    }
    lastStats.set(key, e.stats)
  })
}
