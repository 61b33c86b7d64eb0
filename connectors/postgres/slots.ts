import pg from 'pg'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import { parseLsn, type Lsn } from '../../core/lsn.ts'
import { ident } from './identifiers.ts'
import { sessionConfig } from './session.ts'

/** Logical replication slots: read, create (with or without an exported snapshot), drop. */

export interface SlotState {
  confirmedFlush: Lsn
  activePid: number | null
  /** pg_replication_slots.wal_status: 'lost' means PostgreSQL removed WAL the slot still needed (invalidated). */
  walStatus?: string | null
}

export async function readSlot(client: pg.ClientBase, slot: string): Promise<SlotState | null> {
  const result = await client.query<{ confirmed: string | null; pid: number | null; wal_status: string | null }>(
    'SELECT confirmed_flush_lsn::text AS confirmed, active_pid AS pid, wal_status FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  )
  const row = result.rows[0]
  if (row === undefined) return null
  return { confirmedFlush: row.confirmed === null ? 0n : parseLsn(row.confirmed), activePid: row.pid, walStatus: row.wal_status }
}

/** How slots are created: `failover` (PostgreSQL 17+) lets standbys with sync_replication_slots keep a copy. */
export interface SlotOptions {
  failover: boolean
}

/** A slot created without a snapshot: streaming starts at its consistent point (initialSync: skip). */
export async function createSlot(client: pg.ClientBase, slot: string, options: SlotOptions = { failover: false }): Promise<Lsn> {
  // Arguments: name, plugin, temporary, two-phase, failover (the last one exists from 17 on).
  const result = options.failover
    ? await client.query<{ lsn: string }>("SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput', false, false, true)", [slot])
    : await client.query<{ lsn: string }>("SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')", [slot])
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
export async function createSlotWithSnapshot(connectionString: string, slot: string, options: SlotOptions = { failover: false }): Promise<{ consistentPoint: Lsn; snapshot: string; connection: pg.Client }> {
  const connection = new pg.Client(sessionConfig(connectionString, { replication: 'database' } as pg.ClientConfig))
  await connection.connect()
  try {
    // The option list form exists from 15 on; FAILOVER from 17 on.
    const command = options.failover
      ? `CREATE_REPLICATION_SLOT ${ident(slot)} LOGICAL pgoutput (SNAPSHOT 'export', FAILOVER true)`
      : `CREATE_REPLICATION_SLOT ${ident(slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`
    const result = await connection.query<{ consistent_point: string; snapshot_name: string }>(command)
    const row = result.rows[0]
    return { consistentPoint: parseLsn(row.consistent_point), snapshot: row.snapshot_name, connection }
  } catch (error) {
    await connection.end().catch(() => undefined)
    throw error
  }
}

/** The server's major version (server_version_num / 10000). */
export async function serverMajor(client: pg.ClientBase): Promise<number> {
  const result = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")
  return Math.floor(Number(result.rows[0].v) / 10_000)
}
