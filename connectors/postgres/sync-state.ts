import type pg from 'pg'

/** What rowcast keeps in the source database (schema _rowcast): each sync's backfill state, and its lock. */

/** Per-sync state that must survive restarts: whether the initial backfill finished, or a resync is asked for. */
export type BackfillState = 'pending' | 'done' | 'resync'

export async function ensureStateTable(client: pg.ClientBase): Promise<void> {
  await client.query('CREATE SCHEMA IF NOT EXISTS _rowcast')
  await client.query(`CREATE TABLE IF NOT EXISTS _rowcast.sync_state (
    sync text PRIMARY KEY,
    backfill text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now())`)
}

export async function readBackfillState(client: pg.ClientBase, sync: string): Promise<BackfillState | null> {
  const result = await client.query<{ backfill: BackfillState }>('SELECT backfill FROM _rowcast.sync_state WHERE sync = $1', [sync])
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

/** Session-level advisory lock: one daemon streams a sync; another waits and takes over when it dies. */
export async function tryLockSync(client: pg.ClientBase, sync: string): Promise<boolean> {
  const result = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext('rowcast:sync:' || $1)) AS locked", [sync])
  return result.rows[0].locked
}
