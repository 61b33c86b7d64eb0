import { z } from 'zod'
import { formatLsn } from '../../core/lsn.ts'
import type { ProblemKind, TelemetryEvents } from '../../core/telemetry.ts'

export const alertThresholdsSchema = z
  .object({
    /** Alert when Kafka stays unreachable (state `degraded`, kind `kafka-unreachable`) this long. */
    kafkaUnreachableMs: z.number().int().min(0).default(60_000),
    /** Alert when PostgreSQL stays unreachable (connection refused or lost, kind `postgres-unreachable`) this long. */
    postgresUnreachableMs: z.number().int().min(0).default(60_000),
    /** Alert when a missing Kafka topic holds the sync's messages (kind `topic-missing`) this long. */
    topicMissingMs: z.number().int().min(0).default(60_000),
    /** Alert when the schema registry stays unreachable (kind `registry-unreachable`) this long. */
    registryUnreachableMs: z.number().int().min(0).default(60_000),
    /** Alert when the sync's slot makes PostgreSQL retain more WAL than this (kind `slot-wal`, `restart_lsn` to the server's position). */
    slotRetainedWalBytes: z.number().int().min(0).default(4 * 1024 ** 3),
    /** Alert when at least this many rows are rejected within `rejectedWindowMs`; resolved once the window holds fewer. */
    rejectedRows: z.number().int().min(1).default(1),
    rejectedWindowMs: z.number().int().min(1000).default(300_000),
    /** Alert when the confirmed slot position lags the server by more than this (either figure; read on a timer from the server). */
    replicationLagBytes: z.number().int().min(0).default(1024 ** 3),
    replicationLagSeconds: z.number().min(0).default(300),
  })
  .strict()
export type AlertThresholds = z.infer<typeof alertThresholdsSchema>

export type AlertKind = ProblemKind | 'row-errors' | 'lag' | 'slot-wal' | 'parked'

/** A notification: a sync entered (`trigger`) or left (`resolve`) a failing state of one kind. */
export interface AlertTransition {
  action: 'trigger' | 'resolve'
  sync: string
  kind: AlertKind
  summary: string
  time: number
}

/** Lag and retained WAL must fall below this share of their threshold to resolve, so a figure hovering at it does not flap. */
const RECOVERY_RATIO = 0.9

/** States `degraded` is retried through, each alerted once it lasts past its own threshold. */
type OutageKind = 'kafka-unreachable' | 'postgres-unreachable' | 'topic-missing' | 'registry-unreachable'
const OUTAGES: Readonly<Record<OutageKind, { threshold: 'kafkaUnreachableMs' | 'postgresUnreachableMs' | 'topicMissingMs' | 'registryUnreachableMs'; what: string }>> = {
  'kafka-unreachable': { threshold: 'kafkaUnreachableMs', what: 'Kafka unreachable' },
  'postgres-unreachable': { threshold: 'postgresUnreachableMs', what: 'PostgreSQL unreachable' },
  'topic-missing': { threshold: 'topicMissingMs', what: 'a missing Kafka topic holds the sync' },
  'registry-unreachable': { threshold: 'registryUnreachableMs', what: 'schema registry unreachable' },
}
const isOutage = (kind: string | undefined): kind is OutageKind => kind !== undefined && Object.hasOwn(OUTAGES, kind)

interface SyncAlertState {
  failing: Map<AlertKind, string> // kind -> summary it fired with
  outage: { kind: OutageKind; since: number } | null
  rejected: { second: number; count: number }[] // per-second buckets inside the window
  /** The highest position the checkpoint confirmed so far. */
  confirmed: bigint
  /** While failed: the position the sync must deliver past to have recovered. */
  stuckAt: bigint | null
}

/**
 * The alert state machine, pure and clock-free: feed it telemetry (`observe`) and the passing of time (`tick`),
 * it answers with transitions. Each (sync, kind) fires once when it starts failing and once when it recovers,
 * whatever the number of rows, retries or repeated events in between. A failed sync recovers when its checkpoint
 * passes the failing position, not when a retry starts streaming (each retry does, before failing again).
 */
export class AlertPolicy {
  readonly #t: Readonly<AlertThresholds>
  readonly #syncs = new Map<string, SyncAlertState>()

  /** `thresholds`: the validated `alertThresholds` slice of the config. */
  constructor(thresholds: Readonly<AlertThresholds>) {
    this.#t = thresholds
  }

  observeState(e: TelemetryEvents['state'], now: number): AlertTransition[] {
    const s = this.#sync(e.sync)
    const out: AlertTransition[] = []
    if (e.state === 'failed') {
      s.outage = null
      s.stuckAt = e.position ?? (s.stuckAt === null ? s.confirmed : s.stuckAt)
      const kind = e.kind === 'slot-lost' ? 'slot-lost' : 'fatal'
      this.#enter(out, e.sync, kind, `sync ${e.sync} ${kind === 'slot-lost' ? 'lost its replication slot' : 'failed'}${e.reason ? `: ${e.reason}` : ''}`, now)
    } else if (e.state === 'degraded' && isOutage(e.kind)) {
      if (s.outage !== null && s.outage.kind !== e.kind) this.#leave(out, e.sync, s.outage.kind, now) // the problem moved on
      if (s.outage?.kind !== e.kind) s.outage = { kind: e.kind, since: now }
      out.push(...this.tick(now))
    } else if (e.state === 'streaming' || e.state === 'backfilling') {
      s.outage = null
      for (const kind of Object.keys(OUTAGES) as OutageKind[]) this.#leave(out, e.sync, kind, now)
    }
    return out
  }

  observeRejected(e: TelemetryEvents['rejected'], now: number): AlertTransition[] {
    const s = this.#sync(e.sync)
    const second = Math.floor(now / 1000)
    const last = s.rejected.at(-1)
    if (last?.second === second) last.count += e.count
    else s.rejected.push({ second, count: e.count })
    return this.tick(now)
  }

  /** The confirmed position moved: a failed sync that delivered past its failing position has recovered. */
  observeCheckpoint(e: TelemetryEvents['checkpoint'], now: number): AlertTransition[] {
    const s = this.#sync(e.sync)
    const out: AlertTransition[] = []
    if (e.lsn > s.confirmed) s.confirmed = e.lsn
    if (s.stuckAt !== null && e.lsn > s.stuckAt) {
      s.stuckAt = null
      this.#leave(out, e.sync, 'fatal', now)
      this.#leave(out, e.sync, 'slot-lost', now)
    }
    return out
  }

  /**
   * Its stream group parked the sync (the group's slot stays at its position: PostgreSQL keeps WAL for it), or
   * it caught up again. Parking already waits `streamGroup.parkAfterMs`: the alert fires at once.
   */
  observeParked(e: TelemetryEvents['parked'], now: number): AlertTransition[] {
    const out: AlertTransition[] = []
    if (e.parked) this.#enter(out, e.sync, 'parked', `sync ${e.sync} is parked (it cannot deliver): the other syncs of its stream group go on; slot ${e.slot} stays at ${formatLsn(e.position)} for it, PostgreSQL keeps WAL from there`, now)
    else this.#leave(out, e.sync, 'parked', now)
    return out
  }

  /** The slot as the server sees it, on a timer: lag and retained WAL, even while nothing is confirmed. */
  observeSlot(e: TelemetryEvents['slotHealth'], now: number): AlertTransition[] {
    const out: AlertTransition[] = []
    const { replicationLagBytes: maxBytes, replicationLagSeconds: maxSeconds, slotRetainedWalBytes: maxRetained } = this.#t
    if (e.lagBytes > maxBytes || e.lagSeconds > maxSeconds) {
      const summary = `sync ${e.sync} replication lag ${formatBytes(e.lagBytes)} / ${Math.round(e.lagSeconds)} s (thresholds ${formatBytes(maxBytes)} / ${maxSeconds} s)`
      this.#enter(out, e.sync, 'lag', summary, now)
    } else if (e.lagBytes < maxBytes * RECOVERY_RATIO && e.lagSeconds < maxSeconds * RECOVERY_RATIO) {
      this.#leave(out, e.sync, 'lag', now)
    }
    if (e.retainedBytes > maxRetained) {
      const summary = `sync ${e.sync}: slot ${e.slot} retains ${formatBytes(e.retainedBytes)} of WAL on the server (threshold ${formatBytes(maxRetained)}, wal_status ${e.walStatus ?? 'unknown'})`
      this.#enter(out, e.sync, 'slot-wal', summary, now)
    } else if (e.retainedBytes < maxRetained * RECOVERY_RATIO) {
      this.#leave(out, e.sync, 'slot-wal', now)
    }
    return out
  }

  /** Time-based transitions: an outage past its threshold, rejected rows leaving the window. */
  tick(now: number): AlertTransition[] {
    const out: AlertTransition[] = []
    for (const [sync, s] of this.#syncs) {
      if (s.outage !== null && now - s.outage.since >= this.#t[OUTAGES[s.outage.kind].threshold]) {
        const seconds = Math.round((now - s.outage.since) / 1000)
        this.#enter(out, sync, s.outage.kind, `sync ${sync}: ${OUTAGES[s.outage.kind].what} for ${seconds} s`, now)
      }
      const windowStart = Math.floor((now - this.#t.rejectedWindowMs) / 1000)
      while (s.rejected.length > 0 && s.rejected[0].second <= windowStart) s.rejected.shift()
      const rejected = s.rejected.reduce((sum, bucket) => sum + bucket.count, 0)
      const windowText = `${Math.round(this.#t.rejectedWindowMs / 1000)} s`
      if (rejected >= this.#t.rejectedRows) this.#enter(out, sync, 'row-errors', `sync ${sync}: ${rejected} rows rejected in the last ${windowText}`, now)
      else this.#leave(out, sync, 'row-errors', now)
    }
    return out
  }

  /** When `tick` next has something to decide, if ever (the caller sets one timer for it). */
  nextDeadline(): number | undefined {
    let next: number | undefined
    const consider = (t: number) => (next = next === undefined ? t : Math.min(next, t))
    for (const [, s] of this.#syncs) {
      if (s.outage !== null && !s.failing.has(s.outage.kind)) consider(s.outage.since + this.#t[OUTAGES[s.outage.kind].threshold])
      if (s.rejected.length > 0) consider(s.rejected[0].second * 1000 + this.#t.rejectedWindowMs)
    }
    return next
  }

  failing(): { sync: string; kind: AlertKind }[] {
    return [...this.#syncs].flatMap(([sync, s]) => [...s.failing.keys()].map((kind) => ({ sync, kind })))
  }

  #sync(sync: string): SyncAlertState {
    let s = this.#syncs.get(sync)
    if (!s) this.#syncs.set(sync, (s = { failing: new Map(), outage: null, rejected: [], confirmed: 0n, stuckAt: null }))
    return s
  }

  #enter(out: AlertTransition[], sync: string, kind: AlertKind, summary: string, now: number): void {
    const s = this.#sync(sync)
    if (s.failing.has(kind)) return
    s.failing.set(kind, summary)
    out.push({ action: 'trigger', sync, kind, summary, time: now })
  }

  #leave(out: AlertTransition[], sync: string, kind: AlertKind, now: number): void {
    const s = this.#sync(sync)
    const summary = s.failing.get(kind)
    if (summary === undefined) return
    s.failing.delete(kind)
    out.push({ action: 'resolve', sync, kind, summary: `resolved: ${summary}`, time: now })
  }
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}
