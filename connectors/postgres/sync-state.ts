import type pg from 'pg'
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.ts'
import { SETUP_LOCK_SQL, TRY_SYNC_LOCK_SQL } from './advisory-locks.ts'

/**
 * What rowcast keeps in the source database (schema _rowcast): each sync's backfill state, the identity of
 * the stream it reads (so a vanished slot is told from a first start), the gaps a user accepted, and its lock.
 */

/** Per-sync state that must survive restarts: whether the initial backfill finished, or a resync is asked for. */
export type BackfillState = 'pending' | 'done' | 'resync'

/** The stream a sync read, recorded when it starts streaming: a slot that vanishes later is a loud stop. */
export interface RecordedStream {
  systemId: string
  slot: string
  timeline: number
  /** The last position rowcast confirmed (kept at a bounded rate: it may lag the slot by a few seconds). */
  confirmed: Lsn
  confirmedAt: Date
  /** When the sync started streaming from this slot. */
  since: Date
}

/**
 * Creates (or upgrades) rowcast's state table. Serialized under rowcast's setup lock: two syncs starting together
 * on a database without the schema would otherwise race on CREATE SCHEMA/TABLE IF NOT EXISTS (a unique violation
 * in the catalog for the loser).
 */
export async function ensureStateTable(client: pg.ClientBase): Promise<void> {
  await withSetupLock(client, () => createStateTable(client))
}

/** Runs `work` in a transaction under rowcast's setup lock (DDL that two syncs starting together would race on). */
export async function withSetupLock(client: pg.ClientBase, work: () => Promise<void>): Promise<void> {
  await client.query('BEGIN')
  try {
    await client.query(SETUP_LOCK_SQL)
    await work()
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  }
}

async function createStateTable(client: pg.ClientBase): Promise<void> {
  await client.query('CREATE SCHEMA IF NOT EXISTS _rowcast')
  await client.query(`CREATE TABLE IF NOT EXISTS _rowcast.sync_state (
    sync text PRIMARY KEY,
    backfill text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now())`)
  // Added by later versions: an existing table gains them (a sync without a recorded stream starts as before).
  await client.query(`ALTER TABLE _rowcast.sync_state
    ALTER COLUMN backfill DROP NOT NULL,
    ADD COLUMN IF NOT EXISTS system_id text,
    ADD COLUMN IF NOT EXISTS slot text,
    ADD COLUMN IF NOT EXISTS timeline int,
    ADD COLUMN IF NOT EXISTS confirmed_lsn pg_lsn,
    ADD COLUMN IF NOT EXISTS confirmed_at timestamptz,
    ADD COLUMN IF NOT EXISTS streaming_since timestamptz,
    ADD COLUMN IF NOT EXISTS gap_accepted boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS accepted_gaps jsonb NOT NULL DEFAULT '[]'`)
}

export async function readBackfillState(client: pg.ClientBase, sync: string): Promise<BackfillState | null> {
  const result = await client.query<{ backfill: BackfillState | null }>('SELECT backfill FROM _rowcast.sync_state WHERE sync = $1', [sync])
  return result.rows[0]?.backfill ?? null
}

export async function writeBackfillState(client: pg.ClientBase, sync: string, state: BackfillState): Promise<void> {
  await client.query(
    `INSERT INTO _rowcast.sync_state (sync, backfill) VALUES ($1, $2)
     ON CONFLICT (sync) DO UPDATE SET backfill = EXCLUDED.backfill, updated_at = now()`,
    [sync, state],
  )
}

/** Records a delivered backfill, unless a resync was asked for meanwhile (that one must still run). */
export async function finishBackfill(client: pg.ClientBase, sync: string): Promise<void> {
  await client.query("UPDATE _rowcast.sync_state SET backfill = 'done', updated_at = now() WHERE sync = $1 AND backfill = 'pending'", [sync])
}

/** The stream the sync read last (null: it never streamed, or a gap was accepted), and whether a gap was accepted. */
export async function readRecordedStream(client: pg.ClientBase, sync: string): Promise<{ stream: RecordedStream | null; gapAccepted: boolean }> {
  const result = await client.query<{ system_id: string | null; slot: string; timeline: number; confirmed: string; confirmed_at: Date; since: Date; gap_accepted: boolean }>(
    `SELECT system_id, slot, timeline, confirmed_lsn::text AS confirmed, confirmed_at, streaming_since AS since, gap_accepted
     FROM _rowcast.sync_state WHERE sync = $1`,
    [sync],
  )
  const row = result.rows[0]
  if (row === undefined) return { stream: null, gapAccepted: false }
  const stream = row.system_id === null ? null : { systemId: row.system_id, slot: row.slot, timeline: row.timeline, confirmed: parseLsn(row.confirmed), confirmedAt: row.confirmed_at, since: row.since }
  return { stream, gapAccepted: row.gap_accepted }
}

/**
 * Records the stream a sync starts reading. `fresh`: a new slot (streaming since now, from `position`);
 * otherwise the slot resumed keeps its recorded start and position (or takes these, recorded for the first time).
 */
export async function recordStream(client: pg.ClientBase, sync: string, stream: { systemId: string; slot: string; timeline: number; position: Lsn; fresh: boolean }): Promise<void> {
  await client.query(
    `INSERT INTO _rowcast.sync_state AS s (sync, backfill, system_id, slot, timeline, confirmed_lsn, confirmed_at, streaming_since)
     VALUES ($1, NULL, $2, $3, $4, $5::pg_lsn, now(), now())
     ON CONFLICT (sync) DO UPDATE SET system_id = $2, slot = $3, timeline = $4, gap_accepted = false, updated_at = now(),
       confirmed_lsn = CASE WHEN $6 OR s.confirmed_lsn IS NULL THEN $5::pg_lsn ELSE s.confirmed_lsn END,
       confirmed_at = CASE WHEN $6 OR s.confirmed_at IS NULL THEN now() ELSE s.confirmed_at END,
       streaming_since = CASE WHEN $6 OR s.streaming_since IS NULL THEN now() ELSE s.streaming_since END`,
    [sync, stream.systemId, stream.slot, stream.timeline, formatLsn(stream.position), stream.fresh],
  )
}

/** Keeps the recorded position up to date (called at a bounded rate, never per transaction). */
export async function recordConfirmed(client: pg.ClientBase, sync: string, position: Lsn): Promise<void> {
  await client.query(
    'UPDATE _rowcast.sync_state SET confirmed_lsn = $2::pg_lsn, confirmed_at = now() WHERE sync = $1 AND system_id IS NOT NULL AND confirmed_lsn < $2::pg_lsn',
    [sync, formatLsn(position)],
  )
}

/**
 * `rowcast resync --accept-gap`: appends the gap (from the recorded position, since when) to the sync's
 * accepted gaps and lets the next start create a new slot. Returns the gap recorded (null: none was recorded).
 */
export async function acceptGap(client: pg.ClientBase, sync: string): Promise<{ from: string; confirmedAt: Date; slot: string } | null> {
  const result = await client.query<{ from: string | null; confirmed_at: Date; slot: string }>(
    `UPDATE _rowcast.sync_state SET gap_accepted = true, updated_at = now(),
       accepted_gaps = accepted_gaps || jsonb_build_array(jsonb_build_object(
         'from', confirmed_lsn::text, 'confirmedAt', confirmed_at, 'slot', slot, 'systemId', system_id, 'acceptedAt', now()))
     WHERE sync = $1 RETURNING confirmed_lsn::text AS from, confirmed_at, slot`,
    [sync],
  )
  const row = result.rows[0]
  return row === undefined || row.from === null ? null : { from: row.from, confirmedAt: row.confirmed_at, slot: row.slot }
}

/** The server's identity: its system identifier and current timeline (from the WAL file name: no superuser needed). */
export async function readServerIdentity(client: pg.ClientBase): Promise<{ systemId: string; timeline: number; database: string }> {
  const result = await client.query<{ system_id: string; wal: string; database: string }>(
    'SELECT system_identifier::text AS system_id, pg_walfile_name(pg_current_wal_lsn()) AS wal, current_database() AS database FROM pg_control_system()',
  )
  const row = result.rows[0]
  return { systemId: row.system_id, timeline: Number.parseInt(row.wal.slice(0, 8), 16), database: row.database }
}

/** Session-level advisory lock (rowcast's own two-int key): one daemon streams a sync; another waits and takes over when it dies. */
export async function tryLockSync(client: pg.ClientBase, sync: string): Promise<boolean> {
  const result = await client.query<{ locked: boolean }>(TRY_SYNC_LOCK_SQL, [sync])
  return result.rows[0].locked
}
