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
