import { formatLsn } from '../core/lsn.ts'
import type { SyncState, Telemetry } from '../core/telemetry.ts'

/** What `rowcast status` (and GET /status) shows of one sync. */
export interface SyncStatus {
  /** `parked` while its stream group has set it aside (over the state its attempt reports). */
  state: SyncState
  /** While parked (or catching up after): the group's slot and the position it holds it at (PostgreSQL keeps WAL from there). */
  parked?: { slot: string; position: string }
  /** The running (or last) snapshot of a backfill or resync, read in chunks beside the stream. */
  snapshot: {
    running: boolean
    rowsDone: number
    /** Rows done plus those left by pg_class.reltuples: an estimate. */
    rowsTotal: number
    chunks: number
    /** Rows per second since this daemon started the snapshot (null until two chunks were seen). */
    rowsPerSecond: number | null
    etaSeconds: number | null
  } | null
}

/** Keeps each sync's state and snapshot progress from telemetry, for the status endpoint. */
export function trackSyncStatus(telemetry: Telemetry, now: () => number = Date.now): { status(): Record<string, SyncStatus>; close(): void } {
  const syncs = new Map<string, { state: SyncState; parked: SyncStatus['parked']; snapshot: SyncStatus['snapshot']; firstAt: number; firstDone: number }>()
  const entry = (sync: string) => {
    let found = syncs.get(sync)
    if (found === undefined) syncs.set(sync, (found = { state: 'starting', parked: undefined, snapshot: null, firstAt: 0, firstDone: 0 }))
    return found
  }
  const off = [
    telemetry.on('state', ({ sync, state }) => void (entry(sync).state = state)),
    telemetry.on('parked', ({ sync, slot, parked, position }) => void (entry(sync).parked = parked ? { slot, position: formatLsn(position) } : undefined)),
    telemetry.on('syncRemoved', ({ sync }) => void syncs.delete(sync)),
    telemetry.on('backfill', ({ sync, done, total }) => {
      const e = entry(sync)
      const at = now()
      if (e.snapshot === null || !e.snapshot.running || done < e.snapshot.rowsDone) {
        e.firstAt = at
        e.firstDone = done
        e.snapshot = { running: true, rowsDone: done, rowsTotal: total, chunks: 0, rowsPerSecond: null, etaSeconds: null }
      }
      const seconds = (at - e.firstAt) / 1000
      const rate = seconds > 0 && done > e.firstDone ? (done - e.firstDone) / seconds : null
      e.snapshot = {
        running: done < total,
        rowsDone: done,
        rowsTotal: total,
        chunks: e.snapshot.chunks + 1,
        rowsPerSecond: rate === null ? null : Math.round(rate),
        etaSeconds: rate === null ? null : Math.round(Math.max(0, total - done) / rate),
      }
    }),
  ]
  return {
    status: () => Object.fromEntries([...syncs].map(([sync, e]) => [sync, e.parked === undefined ? { state: e.state, snapshot: e.snapshot } : { state: 'parked' as const, parked: e.parked, snapshot: e.snapshot }])),
    close: () => off.forEach((unsubscribe) => unsubscribe()),
  }
}

/** One line per sync, for the terminal. */
export function formatStatus(status: Record<string, SyncStatus>): string[] {
  return Object.entries(status).map(([sync, { state, snapshot, parked }]) => {
    if (parked !== undefined) return `${sync}: parked: the other syncs of its stream group go on; slot ${parked.slot} stays at ${parked.position} for it (PostgreSQL keeps WAL from there)`
    if (snapshot === null) return `${sync}: ${state}`
    const percent = snapshot.rowsTotal > 0 ? Math.min(100, Math.floor((snapshot.rowsDone / snapshot.rowsTotal) * 100)) : 100
    const bar = `${'#'.repeat(Math.round(percent / 5))}${'.'.repeat(20 - Math.round(percent / 5))}`
    const rate = snapshot.rowsPerSecond === null ? '' : `, ${snapshot.rowsPerSecond} rows/s`
    const eta = snapshot.running && snapshot.etaSeconds !== null ? `, ETA ${snapshot.etaSeconds} s` : ''
    return `${sync}: ${state}, snapshot ${snapshot.running ? 'running' : 'done'} [${bar}] ${snapshot.rowsDone}/${snapshot.rowsTotal} rows (${percent} %)${rate}${eta}`
  })
}
