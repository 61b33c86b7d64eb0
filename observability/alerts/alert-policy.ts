import { z } from 'zod'
import type { TelemetryEvents } from '../../core/telemetry.ts'

export const alertThresholdsSchema = z
  .object({
    /** Alert when Kafka stays unreachable (state `degraded`, kind `kafka-unreachable`) this long. */
    kafkaUnreachableMs: z.number().int().min(0).default(60_000),
    /** Alert when at least this many rows are rejected within `rejectedWindowMs`; resolved once the window holds fewer. */
    rejectedRows: z.number().int().min(1).default(1),
    rejectedWindowMs: z.number().int().min(1000).default(300_000),
    /** Alert when the confirmed slot position lags the server by more than this (either figure). */
    replicationLagBytes: z.number().int().min(0).default(1024 ** 3),
    replicationLagSeconds: z.number().min(0).default(300),
  })
  .strict()
export type AlertThresholds = z.infer<typeof alertThresholdsSchema>

export type AlertKind = 'fatal' | 'kafka-unreachable' | 'row-errors' | 'lag'

/** One notification: a sync entered (`trigger`) or left (`resolve`) a failing state of one kind. */
export interface AlertTransition {
  action: 'trigger' | 'resolve'
  sync: string
  kind: AlertKind
  summary: string
  time: number
}

/** Lag must fall below this share of its threshold to resolve, so a lag hovering at the threshold does not flap. */
const LAG_RECOVERY_RATIO = 0.9

interface SyncAlertState {
  failing: Map<AlertKind, string> // kind -> summary it fired with
  kafkaDownSince: number | null
  rejected: { second: number; count: number }[] // per-second buckets inside the window
}

/**
 * The alert state machine, pure and clock-free: feed it telemetry (`observe`) and the passing of time (`tick`),
 * it answers with transitions. Each (sync, kind) fires once when it starts failing and once when it recovers,
 * whatever the number of rows, retries or repeated events in between.
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
      s.kafkaDownSince = null
      this.#enter(out, e.sync, 'fatal', `sync ${e.sync} failed${e.reason ? `: ${e.reason}` : ''}`, now)
    } else if (e.state === 'degraded' && e.kind === 'kafka-unreachable') {
      s.kafkaDownSince ??= now
      out.push(...this.tick(now))
    } else if (e.state === 'streaming' || e.state === 'backfilling') {
      s.kafkaDownSince = null
      this.#leave(out, e.sync, 'kafka-unreachable', now)
      this.#leave(out, e.sync, 'fatal', now)
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

  observeCheckpoint(e: TelemetryEvents['checkpoint'], now: number): AlertTransition[] {
    const out: AlertTransition[] = []
    const { replicationLagBytes: maxBytes, replicationLagSeconds: maxSeconds } = this.#t
    if (e.lagBytes > maxBytes || e.lagSeconds > maxSeconds) {
      const summary = `sync ${e.sync} replication lag ${formatBytes(e.lagBytes)} / ${Math.round(e.lagSeconds)} s (thresholds ${formatBytes(maxBytes)} / ${maxSeconds} s)`
      this.#enter(out, e.sync, 'lag', summary, now)
    } else if (e.lagBytes < maxBytes * LAG_RECOVERY_RATIO && e.lagSeconds < maxSeconds * LAG_RECOVERY_RATIO) {
      this.#leave(out, e.sync, 'lag', now)
    }
    return out
  }

  /** Time-based transitions: Kafka unreachable past its threshold, rejected rows leaving the window. */
  tick(now: number): AlertTransition[] {
    const out: AlertTransition[] = []
    for (const [sync, s] of this.#syncs) {
      if (s.kafkaDownSince !== null && now - s.kafkaDownSince >= this.#t.kafkaUnreachableMs) {
        const seconds = Math.round((now - s.kafkaDownSince) / 1000)
        this.#enter(out, sync, 'kafka-unreachable', `sync ${sync}: Kafka unreachable for ${seconds} s`, now)
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
      if (s.kafkaDownSince !== null && !s.failing.has('kafka-unreachable')) consider(s.kafkaDownSince + this.#t.kafkaUnreachableMs)
      if (s.rejected.length > 0) consider(s.rejected[0].second * 1000 + this.#t.rejectedWindowMs)
    }
    return next
  }

  failing(): { sync: string; kind: AlertKind }[] {
    return [...this.#syncs].flatMap(([sync, s]) => [...s.failing.keys()].map((kind) => ({ sync, kind })))
  }

  #sync(sync: string): SyncAlertState {
    let s = this.#syncs.get(sync)
    if (!s) this.#syncs.set(sync, (s = { failing: new Map(), kafkaDownSince: null, rejected: [] }))
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
