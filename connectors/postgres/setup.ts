import pg from 'pg'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import { parseLsn, type Lsn } from '../../core/lsn.ts'

/** Publication, slot and sync-state management: everything rowcast creates in the source database. */

export interface PublicationSpec {
  name: string
  table: string
  /** Column list, or null to publish every column (needed when it cannot cover the replica identity). */
  columns: readonly string[] | null
  filter: string | null
}

/** Creates the publication, or makes an existing one match the config (table, columns, row filter). */
export async function ensurePublication(client: pg.ClientBase, spec: PublicationSpec): Promise<void> {
  const columns = spec.columns === null ? '' : ` (${spec.columns.map(ident).join(', ')})`
  const where = spec.filter === null ? '' : ` WHERE (${spec.filter})`
  const target = `TABLE ${spec.table}${columns}${where}`
  const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [spec.name])
  try {
    if (exists.rowCount === 0) {
      await client.query(`CREATE PUBLICATION ${ident(spec.name)} FOR ${target} WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`)
    } else {
      await client.query(`ALTER PUBLICATION ${ident(spec.name)} SET ${target}`)
    }
  } catch (error) {
    throw new RowcastError('PG_PUBLICATION_FAILED', `could not set up publication "${spec.name}" for ${spec.table}${where}: ${errorMessage(error)}`, { cause: error })
  }
}

export interface SlotState {
  confirmedFlush: Lsn
  activePid: number | null
}

export async function readSlot(client: pg.ClientBase, slot: string): Promise<SlotState | null> {
  const result = await client.query<{ confirmed: string | null; pid: number | null }>(
    'SELECT confirmed_flush_lsn::text AS confirmed, active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  )
  const row = result.rows[0]
  if (row === undefined) return null
  return { confirmedFlush: row.confirmed === null ? 0n : parseLsn(row.confirmed), activePid: row.pid }
}

/** A slot created without a snapshot: streaming starts at its consistent point (initialSync: skip). */
export async function createSlot(client: pg.ClientBase, slot: string): Promise<Lsn> {
  const result = await client.query<{ lsn: string }>("SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')", [slot])
  return parseLsn(result.rows[0].lsn)
}

/**
 * Drops the slot (for a new backfill or resync). The walsender of the previous attempt (or daemon) may still
 * hold it for a moment after its connection closed: wait for it to let go, up to `waitMs`.
 */
export async function dropSlot(client: pg.ClientBase, slot: string, waitMs = 15_000): Promise<void> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const state = await readSlot(client, slot)
    if (state === null) return
    if (state.activePid === null) {
      try {
        await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [slot])
        return
      } catch (error) {
        if (!/is active for PID/.test(errorMessage(error))) throw error
      }
    }
    if (Date.now() > deadline) throw new RowcastError('PG_SLOT_ACTIVE', `replication slot "${slot}" is still in use by process ${state.activePid ?? '?'}; cannot drop it to start a backfill`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/**
 * Creates the slot on a replication connection and exports its snapshot: the rows of that snapshot plus
 * the changes streamed from the slot's consistent point are exactly the model, with nothing lost or
 * doubled at the boundary. The snapshot lives while `connection` stays open and idle: close it once a
 * transaction has imported the snapshot.
 */
export async function createSlotWithSnapshot(connectionString: string, slot: string): Promise<{ consistentPoint: Lsn; snapshot: string; connection: pg.Client }> {
  const connection = new pg.Client({ connectionString, replication: 'database' } as pg.ClientConfig)
  await connection.connect()
  try {
    const result = await connection.query<{ consistent_point: string; snapshot_name: string }>(`CREATE_REPLICATION_SLOT ${ident(slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`)
    const row = result.rows[0]
    return { consistentPoint: parseLsn(row.consistent_point), snapshot: row.snapshot_name, connection }
  } catch (error) {
    await connection.end().catch(() => undefined)
    throw error
  }
}

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

/** Writes a tiny transactional WAL message: an idle or fully filtered sync still sees commits and advances. */
export async function emitHeartbeat(client: pg.ClientBase, prefix: string): Promise<void> {
  await client.query("SELECT pg_logical_emit_message(true, $1, '')", [prefix])
}

export function ident(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`
}
