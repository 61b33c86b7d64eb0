import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseLsn } from '../../core/lsn.ts'
import type { Daemon } from '../../daemon/daemon.ts'
import type { Logger } from '../../core/logger.ts'
import type { TelemetryEvents } from '../../core/telemetry.ts'
import { eventually, sql } from './harness.ts'

/** Helpers of the sync-semantics tests: slot positions, telemetry recording, a log you can read. */

export async function currentLsn(env: StackEnv): Promise<bigint> {
  const { rows } = await sql(env, 'SELECT pg_current_wal_lsn()::text AS lsn')
  return parseLsn(rows[0].lsn as string)
}

/** The slot's confirmed_flush_lsn as PostgreSQL itself reports it (0n when the slot has none yet). */
export async function slotConfirmed(env: StackEnv, slot: string): Promise<bigint> {
  const { rows } = await sql(env, 'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot])
  return rows[0]?.lsn ? parseLsn(rows[0].lsn as string) : 0n
}

/**
 * Waits until every named sync's slot is confirmed past everything written so far: every change made
 * before this call has then been through the whole pipeline, and acknowledged by Kafka if it was sent.
 * (The 1 s heartbeat gives each stream a transaction to confirm after the last real one.)
 */
export async function caughtUp(env: StackEnv, syncs: readonly string[], timeoutMs = 30_000): Promise<void> {
  const target = await currentLsn(env)
  for (const sync of syncs) {
    await eventually(() => syncConfirmed(env, sync), (lsn) => lsn >= target, timeoutMs, `sync ${sync} confirmed past ${target}`)
  }
}

/** A sync's confirmed position: its own slot's (rowcast_<sync>), or in a stream group its cursor (written as it moves). */
export async function syncConfirmed(env: StackEnv, sync: string): Promise<bigint> {
  const { rows } = await sql(env, `SELECT coalesce(
      (SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'rowcast_' || $1),
      (SELECT s.confirmed_lsn FROM _rowcast.sync_state s JOIN pg_replication_slots r ON r.slot_name = s.slot WHERE s.sync = $1))::text AS lsn`, [sync])
  return rows[0]?.lsn ? parseLsn(rows[0].lsn as string) : 0n
}

/** Records every payload of one telemetry event from now on. */
export function record<E extends keyof TelemetryEvents>(daemon: Daemon, event: E): TelemetryEvents[E][] {
  const seen: TelemetryEvents[E][] = []
  daemon.telemetry.on(event, (payload) => seen.push(payload))
  return seen
}

/** A pino logger whose JSON lines are kept in memory (and whose level is warn, like the harness's, unless told). */
export function memoryLogger(level = 'warn'): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString())
      done()
    },
  })
  const logger = pino({ level }, stream)
  return { logger, lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * Drops the slots and publications of finished syncs (after `daemon.stop()`): an inactive slot keeps WAL
 * forever, and the shared stack has a fixed number of them.
 */
export async function dropSyncs(env: StackEnv, syncs: readonly string[]): Promise<void> {
  const names = syncs.map((s) => `rowcast_${s}`)
  await eventually(
    () => sql(env, 'SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = ANY($1) AND active', [names]).then((r) => r.rows[0].n as number),
    (n) => n === 0,
    10_000,
    'slots released',
  )
  await sql(env, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1)', [names])
  for (const name of names) await sql(env, `DROP PUBLICATION IF EXISTS ${name}`)
}

/** Stops the daemon, then drops its syncs' slots and publications. */
export async function finish(env: StackEnv, daemon: Daemon): Promise<void> {
  await daemon.stop()
  await dropSyncs(env, daemon.syncs.map((s) => s.name))
}

/** Waits until each sync's backfill is delivered (its snapshot runs beside the stream, so `streaming` comes first). */
export async function backfilled(env: StackEnv, syncs: readonly string[], timeoutMs = 30_000): Promise<void> {
  await eventually(
    async () => Number((await sql(env, "SELECT count(*) AS n FROM _rowcast.sync_state WHERE sync = ANY($1) AND backfill = 'done'", [syncs])).rows[0].n),
    (n) => n === syncs.length,
    timeoutMs,
    `backfill of ${syncs.join(', ')} delivered`,
  )
}

/**
 * The slot a sync started streaming from, as recorded in _rowcast.sync_state (its own, or its stream group's):
 * null while it never got that far (a sync refused before it streams neither makes a slot nor joins a group).
 */
export async function recordedSlot(env: StackEnv, sync: string): Promise<string | null> {
  const { rows } = await sql(env, 'SELECT slot FROM _rowcast.sync_state WHERE sync = $1 AND system_id IS NOT NULL', [sync]).catch(() => ({ rows: [] as { slot: string }[] }))
  return (rows[0]?.slot as string | undefined) ?? null
}
