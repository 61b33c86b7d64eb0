import type pg from 'pg'
import { ConfigError, RowcastError, errorMessage } from '../../core/errors.ts'
import { ident } from './identifiers.ts'
import { rowFilterIssue } from './row-filter.ts'

/** The publication of a sync: which table, columns and rows PostgreSQL sends it. */

export interface PublicationSpec {
  name: string
  /** null: no table (a messages sync: pgoutput sends logical messages whatever the publication holds). */
  table: string | null
  /** Column list, or null to publish every column (needed when it cannot cover the replica identity). */
  columns: readonly string[] | null
  filter: string | null
  /** Where the filter comes from in the config (`syncs[0].model.filter`), for the error when it is refused. */
  filterPath?: string
}

/**
 * Creates the publication, or makes an existing one match the config (table, columns, row filter). The filter
 * is written into the DDL, so it is checked first to be one expression over the table (see row-filter.ts).
 */
export async function ensurePublication(client: pg.ClientBase, spec: PublicationSpec): Promise<void> {
  if (spec.table === null) return ensureEmptyPublication(client, spec.name)
  if (spec.filter !== null) {
    const issue = await rowFilterIssue(client, spec.table, spec.filter, spec.filterPath ?? 'model.filter')
    if (issue !== undefined) throw new ConfigError([issue])
  }
  const columns = spec.columns === null ? '' : ` (${spec.columns.map(ident).join(', ')})`
  const where = spec.filter === null ? '' : ` WHERE (${spec.filter})`
  const target = `TABLE ${spec.table}${columns}${where}`
  const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [spec.name])
  // PostgreSQL 18 streams STORED generated columns' values when asked (catalog.ts counts them as columns then).
  const generated = (await client.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v")).rows[0].v >= 180000 ? ', publish_generated_columns = stored' : ''
  try {
    if (exists.rowCount === 0) {
      await client.query(`CREATE PUBLICATION ${ident(spec.name)} FOR ${target} WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true${generated})`)
    } else {
      await client.query(`ALTER PUBLICATION ${ident(spec.name)} SET ${target}`)
      if (generated !== '') await client.query(`ALTER PUBLICATION ${ident(spec.name)} SET (publish_generated_columns = stored)`)
    }
  } catch (error) {
    throw new RowcastError('PG_PUBLICATION_FAILED', `could not set up publication "${spec.name}" for ${spec.table}${where}: ${errorMessage(error)}`, { cause: error })
  }
}

/** A publication of no table, for a messages sync: START_REPLICATION needs one that exists. One that exists is left as it is. */
async function ensureEmptyPublication(client: pg.ClientBase, name: string): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name])
  if (exists.rowCount !== 0) return
  try {
    await client.query(`CREATE PUBLICATION ${ident(name)}`)
  } catch (error) {
    throw new RowcastError('PG_PUBLICATION_FAILED', `could not create publication "${name}" (for logical messages): ${errorMessage(error)}`, { cause: error })
  }
}

/**
 * A stream group's one publication (named after its slot), created without tables before the slot, so every
 * position the group's stream may start from knows it (PostgreSQL reads publications as of the position decoded:
 * a publication created later "does not exist" there).
 */
export async function ensureGroupPublication(client: pg.ClientBase, name: string): Promise<void> {
  const exists = await client.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name])
  if (exists.rowCount !== 0) return
  try {
    // PostgreSQL 18 streams STORED generated columns' values when asked (as ensurePublication does for a sync's own).
    const generated = (await client.query<{ v: number }>("SELECT current_setting('server_version_num')::int AS v")).rows[0].v >= 180000 ? ', publish_generated_columns = stored' : ''
    await client.query(`CREATE PUBLICATION ${ident(name)} WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true${generated})`)
  } catch (error) {
    throw new RowcastError('PG_PUBLICATION_FAILED', `could not create the stream group's publication "${name}": ${errorMessage(error)}`, { cause: error })
  }
}

/**
 * Adds a sync's table (with its row filter) to its stream group's publication, or sets the filter of a table
 * already in it. Every column is published (the sync projects in the pipeline). Inside the caller's transaction (under the setup lock: one change at a time).
 * True when the publication changed (the table added, or its filter set again).
 */
export async function addToGroupPublication(client: pg.ClientBase, name: string, spec: PublicationSpec): Promise<boolean> {
  if (spec.table === null) throw new RowcastError('CONFIG_INVALID', 'a sync of logical messages cannot join a stream group (the config check refuses stream: shared for it)')
  if (spec.filter !== null) {
    const issue = await rowFilterIssue(client, spec.table, spec.filter, spec.filterPath ?? 'model.filter')
    if (issue !== undefined) throw new ConfigError([issue])
  }
  const where = spec.filter === null ? '' : ` WHERE (${spec.filter})`
  const present = await client.query<{ filtered: boolean }>(
    `SELECT pr.prqual IS NOT NULL AS filtered FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = $1 AND pr.prrelid = $2::regclass`,
    [name, spec.table],
  )
  try {
    if (present.rowCount === 0) await client.query(`ALTER PUBLICATION ${ident(name)} ADD TABLE ${spec.table}${where}`)
    else if (spec.filter !== null || present.rows[0]?.filtered === true) {
      await client.query(`ALTER PUBLICATION ${ident(name)} DROP TABLE ${spec.table}`)
      await client.query(`ALTER PUBLICATION ${ident(name)} ADD TABLE ${spec.table}${where}`)
    } else return false
    return true
  } catch (error) {
    throw new RowcastError('PG_PUBLICATION_FAILED', `could not add ${spec.table}${where} to the stream group's publication "${name}": ${errorMessage(error)}`, { cause: error })
  }
}

/**
 * Takes a table out of a stream group's publication (its last sync left the group): the walsender stops sending
 * its changes. One statement, committed on its own; a table not in the publication is left alone.
 */
export async function dropFromGroupPublication(client: pg.ClientBase, name: string, table: string): Promise<void> {
  const present = await client.query('SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = $1 AND pr.prrelid = to_regclass($2)', [name, table])
  if (present.rowCount === 0) return
  try {
    await client.query(`ALTER PUBLICATION ${ident(name)} DROP TABLE ${table}`)
  } catch (error) {
    throw new RowcastError('PG_PUBLICATION_FAILED', `could not take ${table} out of the stream group's publication "${name}": ${errorMessage(error)}`, { cause: error })
  }
}

/** A transaction a joining sync waits for: its xid, and the session or prepared transaction that holds it (null: gone meanwhile). */
export interface RunningTransaction {
  xid: string
  pid: number | null
  application: string | null
  /** pg_stat_activity's state (`idle in transaction` is the usual culprit); `prepared` for a prepared transaction. */
  state: string | null
  since: Date | null
}

/**
 * Every transaction id running now. A snapshot's xip list alone misses those at or above its xmax (one past the
 * latest *completed* xid): the newest running transactions when none after them has ended. So rowcast takes an
 * xid of its own (every running one is below it) and adds the ids from xmax up to it that are still in progress.
 */
const RUNNING_XIDS = `WITH s AS (SELECT pg_current_snapshot() AS snap, pg_current_xact_id() AS me)
  SELECT array(
    SELECT x::text FROM s, pg_snapshot_xip(s.snap) AS x
    UNION
    SELECT g::text FROM s, generate_series(pg_snapshot_xmax(s.snap)::text::bigint, s.me::text::bigint - 1) AS g
     WHERE pg_xact_status(g::text::xid8) = 'in progress'
  )::text[] AS xids FROM s`

/**
 * Waits until every transaction running now has ended (committed, aborted or prepared-and-finished). Called after
 * a table joins the group's publication: a transaction that wrote the table before that and commits after it would
 * reach the joining sync without those writes, while its snapshot reads miss them too; once the wait is over, the
 * sync's start position lies past every such commit (they are in the snapshot it reads instead). A session left
 * idle in a transaction holds the sync there for as long as it stays open: `onWaiting` hears at once, then every
 * `tellEveryMs`, which sessions hold them (never their queries: they may hold data). A stop (`signal`) ends the
 * wait by throwing its reason: the sync has not waited, so nothing may be recorded as if it had.
 */
export async function waitForRunningTransactions(client: pg.ClientBase, onWaiting: (running: RunningTransaction[], waitedMs: number, first: boolean) => void, pollMs = 200, tellEveryMs = 30_000, signal?: AbortSignal): Promise<void> {
  const started = Date.now()
  const { rows } = await client.query<{ xids: string[] }>(RUNNING_XIDS)
  let running = rows[0].xids
  let toldAt: number | null = null
  while (running.length > 0) {
    const left = await client.query<{ xids: string[] }>("SELECT array(SELECT x FROM unnest($1::text[]) AS x WHERE pg_xact_status(x::xid8) = 'in progress')::text[] AS xids", [running])
    running = left.rows[0].xids
    if (running.length === 0) return
    const now = Date.now()
    if (toldAt === null || now - toldAt >= tellEveryMs) {
      onWaiting(await describeTransactions(client, running), now - started, toldAt === null)
      toldAt = now
    }
    await new Promise((r) => setTimeout(r, pollMs))
    signal?.throwIfAborted()
  }
}

/** Who holds each transaction: its session (pg_stat_activity) or its prepared transaction (pg_prepared_xacts). */
async function describeTransactions(client: pg.ClientBase, xids: readonly string[]): Promise<RunningTransaction[]> {
  const { rows } = await client.query<{ xid: string; pid: number | null; application: string | null; state: string | null; since: Date | null }>(
    `SELECT x AS xid, a.pid, a.application_name AS application, coalesce(a.state, CASE WHEN p.gid IS NOT NULL THEN 'prepared' END) AS state,
            coalesce(a.xact_start, p.prepared) AS since
       FROM unnest($1::text[]) AS x
       LEFT JOIN pg_stat_activity a ON a.backend_xid::text = (x::xid8::text::bigint % 4294967296)::text
       LEFT JOIN pg_prepared_xacts p ON p.transaction::text = (x::xid8::text::bigint % 4294967296)::text`,
    [xids],
  )
  return rows
}

/** One running transaction for a log line: `pid 4242 (psql, idle in transaction since 2026-12-02T09:00:00.000Z)`. */
export function describeRunning(t: RunningTransaction): string {
  if (t.pid === null && t.state === null) return `xid ${t.xid}` // its session ended meanwhile, or is not visible to rowcast's role
  const who = t.pid === null ? `xid ${t.xid}` : `pid ${t.pid}`
  const what = [t.application || null, t.state === null ? null : `${t.state}${t.since === null ? '' : ` since ${t.since.toISOString()}`}`].filter((x) => x !== null)
  return what.length === 0 ? who : `${who} (${what.join(', ')})`
}
