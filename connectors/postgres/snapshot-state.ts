import { randomUUID } from 'node:crypto'
import type pg from 'pg'

/**
 * Where a chunked snapshot stands, kept in _rowcast.sync_state beside the sync's backfill state: the key
 * of the last chunk Kafka acknowledged (text values, in key order) and the rows sent so far. A restart
 * (or SIGKILL) resumes at the next chunk; a resync starts again from the first key. `run` names the
 * snapshot (new for each backfill or resync): exactly-once progress records of another run say nothing.
 */
export interface SnapshotProgress {
  /** The last delivered chunk's last key (null: start at the first row). */
  after: string[] | null
  rows: number
  run: string
}

export async function ensureSnapshotColumns(client: pg.ClientBase): Promise<void> {
  await client.query(`ALTER TABLE _rowcast.sync_state
    ADD COLUMN IF NOT EXISTS snapshot_after jsonb,
    ADD COLUMN IF NOT EXISTS snapshot_rows bigint NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS snapshot_run text`)
}

/** The pending snapshot's position (a snapshot begun by an earlier version gets its run name now). */
export async function readSnapshotProgress(client: pg.ClientBase, sync: string): Promise<SnapshotProgress> {
  const result = await client.query<{ after: string[] | null; rows: string; run: string }>(
    `UPDATE _rowcast.sync_state SET snapshot_run = COALESCE(snapshot_run, $2) WHERE sync = $1
     RETURNING snapshot_after AS after, snapshot_rows::text AS rows, snapshot_run AS run`,
    [sync, randomUUID()],
  )
  const row = result.rows[0]
  return { after: row?.after ?? null, rows: Number(row?.rows ?? 0), run: row?.run ?? randomUUID() }
}

/** A snapshot starts from the first row (first backfill, or a resync taken up): backfill 'pending', no chunk done, a new run. */
export async function beginSnapshot(client: pg.ClientBase, sync: string): Promise<SnapshotProgress> {
  const run = randomUUID()
  await client.query(
    `INSERT INTO _rowcast.sync_state (sync, backfill, snapshot_after, snapshot_rows, snapshot_run) VALUES ($1, 'pending', NULL, 0, $2)
     ON CONFLICT (sync) DO UPDATE SET backfill = 'pending', snapshot_after = NULL, snapshot_rows = 0, snapshot_run = $2, updated_at = now()`,
    [sync, run],
  )
  return { after: null, rows: 0, run }
}

/** Records a delivered chunk (only while this snapshot is the pending one: a resync asked for meanwhile wins). */
export async function recordChunk(client: pg.ClientBase, sync: string, progress: SnapshotProgress): Promise<void> {
  await client.query(
    "UPDATE _rowcast.sync_state SET snapshot_after = $2::jsonb, snapshot_rows = $3, updated_at = now() WHERE sync = $1 AND backfill = 'pending' AND snapshot_run = $4",
    [sync, JSON.stringify(progress.after), progress.rows, progress.run],
  )
}
