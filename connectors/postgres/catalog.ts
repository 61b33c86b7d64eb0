import type pg from 'pg'
import type { ColumnInfo } from '../../core/changes.ts'

/** What rowcast needs to know about a model's table, read once at start-up. */
export interface TableInfo {
  /** schema.table, as PostgreSQL names it */
  name: string
  /**
   * The columns PostgreSQL streams. Generated columns are not before 18; from 18 on, STORED ones are (the
   * publication says publish_generated_columns = stored), VIRTUAL ones never.
   */
  columns: ColumnInfo[]
  /** Generated columns PostgreSQL does not stream (all before 18, VIRTUAL ones from 18 on), left out of `columns`. */
  generatedColumns: string[]
  /** VIRTUAL generated columns (PostgreSQL 18+), among `generatedColumns`: never published. */
  virtualColumns?: string[]
  primaryKey: string[]
  replicaIdentity: 'default' | 'nothing' | 'full' | 'index'
  /** Columns PostgreSQL writes into the old row of an UPDATE/DELETE (all of them under FULL). */
  identityColumns: string[]
  /** Approximate row count (pg_class.reltuples), for backfill progress. */
  estimatedRows: number
  /** What the relation is, when not a plain table: a view (v), materialized view (m), foreign (f) or partitioned (p) table. */
  kind?: 'v' | 'm' | 'f' | 'p'
}

const IDENTITY = { d: 'default', n: 'nothing', f: 'full', i: 'index' } as const

/** Reads a table's columns, key and replica identity; null when the table does not exist. */
export async function describeTable(client: pg.ClientBase, table: string): Promise<TableInfo | null> {
  const rel = await client.query<{ oid: number; name: string; ident: keyof typeof IDENTITY; reltuples: number; kind: string }>(
    `SELECT c.oid::int AS oid, format('%I.%I', n.nspname, c.relname) AS name, c.relreplident AS ident, c.reltuples::float8 AS reltuples, c.relkind AS kind
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1)`,
    [table],
  )
  const found = rel.rows[0]
  if (found === undefined) return null
  // toastable: any storage but PLAIN, except short varchar/char (n + 4 in typmod; 4 bytes a character stays under 2 KB).
  const columns = await client.query<{ name: string; type_oid: number; type_name: string; nullable: boolean; element: string | null; generated: boolean; virtual: boolean; toastable: boolean }>(
    // From 18 on a STORED generated column is published (publication.ts sets publish_generated_columns = stored).
    `SELECT a.attname AS name, a.atttypid::int AS type_oid,
            a.attgenerated <> '' AND NOT (a.attgenerated = 's' AND current_setting('server_version_num')::int >= 180000) AS generated,
            a.attgenerated = 'v' AS virtual,
            coalesce(bt.typname, t.typname) AS type_name, NOT a.attnotnull AS nullable,
            a.attstorage <> 'p' AND NOT (coalesce(bt.typname, t.typname) IN ('varchar', 'bpchar') AND a.atttypmod BETWEEN 5 AND 504) AS toastable,
            CASE WHEN coalesce(bt.typcategory, t.typcategory) = 'A' THEN et.typname END AS element
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
  LEFT JOIN pg_type et ON et.oid = coalesce(bt.typelem, t.typelem)
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
   ORDER BY a.attnum`,
    [found.oid],
  )
  const keys = await client.query<{ name: string; primary: boolean; identity: boolean }>(
    `SELECT a.attname AS name, i.indisprimary AS primary, i.indisreplident AS identity
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
      WHERE i.indrelid = $1 AND (i.indisprimary OR i.indisreplident)
   ORDER BY array_position(i.indkey, a.attnum)`,
    [found.oid],
  )
  const replicaIdentity = IDENTITY[found.ident]
  const primaryKey = keys.rows.filter((k) => k.primary).map((k) => k.name)
  const cols: ColumnInfo[] = columns.rows.filter((c) => !c.generated).map((c) => ({
    name: c.name,
    typeOid: c.type_oid,
    typeName: c.type_name,
    nullable: c.nullable,
    ...(c.element === null ? {} : { elementTypeName: c.element }),
    ...(c.toastable ? { toastable: true } : {}),
  }))
  const identityColumns =
    replicaIdentity === 'full' ? cols.map((c) => c.name)
    : replicaIdentity === 'index' ? keys.rows.filter((k) => k.identity).map((k) => k.name)
    : replicaIdentity === 'default' ? primaryKey
    : []
  const generatedColumns = columns.rows.filter((c) => c.generated).map((c) => c.name)
  const virtualColumns = columns.rows.filter((c) => c.virtual).map((c) => c.name)
  const kind = found.kind === 'v' || found.kind === 'm' || found.kind === 'f' || found.kind === 'p' ? { kind: found.kind as NonNullable<TableInfo['kind']> } : {}
  return { name: found.name, columns: cols, generatedColumns, ...(virtualColumns.length === 0 ? {} : { virtualColumns }), primaryKey, replicaIdentity, identityColumns, estimatedRows: Math.max(0, found.reltuples), ...kind }
}

/** Identifiers a row filter refers to (string literals and quoted text removed), for start-up checks. */
export function filterColumns(filter: string, columns: readonly string[]): string[] {
  const stripped = filter.replace(/'(?:[^']|'')*'/g, ' ')
  const quoted = [...stripped.matchAll(/"((?:[^"]|"")+)"/g)].map((m) => m[1].replace(/""/g, '"'))
  const bare = stripped.replace(/"(?:[^"]|"")+"/g, ' ').toLowerCase().match(/[a-z_][a-z0-9_$]*/g) ?? []
  const used = new Set([...quoted, ...bare])
  return columns.filter((c) => used.has(c))
}
