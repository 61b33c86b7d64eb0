import { filterColumns, type TableInfo } from '../connectors/postgres/catalog.ts'
import type { PublicationSpec } from '../connectors/postgres/publication.ts'
import type { ShapeOptions } from '../connectors/postgres/relation-shape.ts'
import type { ModelShape } from '../operators/classify.ts'
import type { MessagesModel } from '../operators/classify-messages.ts'
import { compileComposer, type Composer } from '../operators/compose-message.ts'
import type { SyncConfig } from '../config/root-schema.ts'
import { ConfigError, type ConfigIssue } from '../core/errors.ts'
import type { ColumnInfo } from '../core/changes.ts'

/** A sync checked against the database: everything the pipeline needs, decided once. */
export interface ResolvedSync {
  config: SyncConfig
  table: TableInfo
  columns: ColumnInfo[]
  model: ModelShape
  composer: Composer
  publication: PublicationSpec
  slot: string
  /** The model's columns as streamed, and what a change of the table's shape does (relation-shape.ts). */
  shape: ShapeOptions
  /** Things that work but not as well as they could (e.g. no REPLICA IDENTITY FULL). */
  warnings: string[]
  /** A sync of logical messages (resolve-messages-sync.ts); null for a table's. */
  messages: MessagesModel | null
}

export function slotName(sync: SyncConfig): string {
  return sync.slot ?? `rowcast_${sync.name}`
}

export function publicationName(sync: SyncConfig): string {
  return sync.publication ?? `rowcast_${sync.name}`
}

/**
 * Checks a sync against the table it reads (as `describeTable` found it; null when it does not exist): every
 * named column exists, the key is known, the row filter can be applied under the table's replica identity.
 * Reports every problem at once. Pure: the caller reads the catalog.
 */
export function resolveSync(table: TableInfo | null, sync: SyncConfig, index: number): ResolvedSync {
  const path = `syncs[${index}]`
  if (table === null) throw new ConfigError([{ path: `${path}.model.table`, message: `table ${sync.model.table} does not exist` }])
  if (table.kind === 'v' || table.kind === 'm' || table.kind === 'f') {
    const what = { v: 'a view', m: 'a materialized view', f: 'a foreign table' }[table.kind]
    throw new ConfigError([{ path: `${path}.model.table`, message: `${table.name} is ${what}: PostgreSQL's logical replication streams only tables — name the table it reads (model.columns and model.filter shape the model)` }])
  }
  const message = sync.message
  if (message === undefined) throw new ConfigError([{ path: `${path}.message`, message: 'required: a template, column or mapping' }])
  const issues: ConfigIssue[] = []
  const names = new Set(table.columns.map((c) => c.name))
  const missing = (column: string, at: string) => {
    if (table.generatedColumns.includes(column)) issues.push({ path: at, message: generatedMessage(table.name, [column]) })
    else if (!names.has(column)) issues.push({ path: at, message: `column "${column}" does not exist in ${table.name}` })
  }
  sync.model.columns?.forEach((c, i) => missing(c, `${path}.model.columns[${i}]`))
  sync.model.primaryKey?.forEach((c, i) => missing(c, `${path}.model.primaryKey[${i}]`))
  const modelColumns = sync.model.columns === undefined ? table.columns : table.columns.filter((c) => sync.model.columns?.includes(c.name))
  const inModel = new Set(modelColumns.map((c) => c.name))
  const needInModel = (column: string, at: string) => {
    if (!names.has(column)) missing(column, at)
    else if (!inModel.has(column)) issues.push({ path: at, message: `column "${column}" is not one of the model's columns (add it to ${path}.model.columns)` })
  }
  if (sync.key !== undefined) needInModel(sync.key, `${path}.key`)
  if (sync.partition !== undefined) needInModel(sync.partition, `${path}.partition`)
  for (const [header, column] of Object.entries(sync.headers ?? {})) needInModel(column, `${path}.headers.${header}`)
  if (typeof sync.topic === 'object' && 'column' in sync.topic) needInModel(sync.topic.column, `${path}.topic.column`)

  const keyColumns = sync.model.primaryKey ?? table.primaryKey
  // Without a key, REPLICA IDENTITY FULL still says which row a change touched (by its whole old value):
  // such a table streams keyless, and its snapshot reads page ranges (README: Initial sync).
  if (keyColumns.length === 0 && table.replicaIdentity !== 'full') {
    issues.push({ path: `${path}.model.primaryKey`, message: `${table.name} has no primary key: name the columns that identify a row, or run ALTER TABLE ${table.name} REPLICA IDENTITY FULL to stream it without a key` })
  } else if (keyColumns.length === 0 && table.kind === 'p') {
    issues.push({ path: `${path}.model.primaryKey`, message: `${table.name} is a partitioned table without a primary key: its snapshot cannot read page ranges (a partitioned table has no pages of its own) — name the columns that identify a row` })
  }
  keyColumns.forEach((c) => {
    if (names.has(c) && !inModel.has(c)) issues.push({ path: `${path}.model.columns`, message: `key column "${c}" must be one of the model's columns` })
  })

  if (table.replicaIdentity === 'default' || table.replicaIdentity === 'index') {
    // A DELETE (and an UPDATE of the key) carries only the identity's columns: a key outside it would be null there.
    const identity = table.identityColumns.length === 0 ? 'no columns' : table.identityColumns.map((c) => `"${c}"`).join(', ')
    const outside = (column: string, at: string, what: string) => {
      if (names.has(column) && !table.identityColumns.includes(column)) {
        issues.push({ path: at, message: `sync "${sync.name}": ${what} column "${column}" is not in the replica identity of ${table.name} (${table.replicaIdentity}: ${identity}); a DELETE carries only those columns, so its message would have no ${what} — use identity columns, or run ALTER TABLE ${table.name} REPLICA IDENTITY FULL` })
      }
    }
    // Only a removed message is built from a DELETE: without that trigger the key may be any column (an outbox).
    if (sync.key !== undefined && sync.triggers.includes('removed')) outside(sync.key, `${path}.key`, 'key:')
    keyColumns.forEach((c, i) => outside(c, sync.model.primaryKey === undefined ? `${path}.model.primaryKey` : `${path}.model.primaryKey[${i}]`, 'primary key'))
  }

  const warnings: string[] = []
  if (sync.model.columns === undefined && table.generatedColumns.length > 0) {
    warnings.push(`${generatedMessage(table.name, table.generatedColumns)}: left out of the model, in the backfill and the stream alike`)
  }
  if (sync.model.filter !== undefined) {
    const used = filterColumns(sync.model.filter, [...names])
    const outside = used.filter((c) => !table.identityColumns.includes(c))
    if (outside.length > 0) {
      issues.push({
        path: `${path}.model.filter`,
        message: `the filter uses ${outside.map((c) => `"${c}"`).join(', ')}, which ${outside.length === 1 ? 'is' : 'are'} not in the replica identity of ${table.name} (${table.replicaIdentity}); PostgreSQL would refuse UPDATE and DELETE on the table — run ALTER TABLE ${table.name} REPLICA IDENTITY FULL (rowcast setup offers it)`,
      })
    }
  }
  if (table.replicaIdentity !== 'full') {
    warnings.push(`${table.name} does not have REPLICA IDENTITY FULL: PostgreSQL sends no old row, so every UPDATE counts as changed (even one that touches only columns outside the model). Fix: ALTER TABLE ${table.name} REPLICA IDENTITY FULL (or run \`rowcast setup\`).`)
    const large = modelColumns.filter((c) => c.toastable === true).map((c) => `"${c.name}"`)
    if (large.length > 0) {
      const then = sync.model.unchangedToast === 'reselect'
        ? 'rowcast reads them back from the table by key (model.unchangedToast: reselect, one query per batch that needs it): such a message carries the value current at that read, and the header rowcast-reselected names those columns'
        : 'such an UPDATE is a row error for onRowError (model.unchangedToast: error)'
      warnings.push(`model column${large.length === 1 ? '' : 's'} ${large.join(', ')} of ${table.name} can hold large (TOASTed) values, which PostgreSQL does not resend when an UPDATE leaves them unchanged; ${then}. REPLICA IDENTITY FULL sends them with the old row.`)
    }
  }
  const virtual = table.virtualColumns ?? []
  if (table.replicaIdentity === 'full' && virtual.length > 0) {
    // PostgreSQL 18 never publishes a VIRTUAL column, and refuses UPDATE and DELETE on a published table whose FULL identity holds one.
    issues.push({ path: `${path}.model.table`, message: `${table.name} has REPLICA IDENTITY FULL and the VIRTUAL generated column${virtual.length === 1 ? '' : 's'} ${virtual.map((c) => `"${c}"`).join(', ')}, which PostgreSQL never publishes: once the table is in a publication, PostgreSQL refuses its UPDATEs and DELETEs (replica identity must not contain unpublished generated columns) — make ${virtual.length === 1 ? 'it' : 'them'} STORED, or set REPLICA IDENTITY DEFAULT` })
  }
  if (table.replicaIdentity === 'nothing') {
    issues.push({ path: `${path}.model.table`, message: `${table.name} has REPLICA IDENTITY NOTHING: PostgreSQL cannot say which row an UPDATE or DELETE touched — set REPLICA IDENTITY FULL or DEFAULT` })
  }

  let composer: Composer = () => ''
  try {
    composer = compileComposer(message, modelColumns, `${path}.message`, table.name)
  } catch (error) {
    if (error instanceof ConfigError) issues.push(...error.issues)
    else throw error
  }
  if (issues.length > 0) throw new ConfigError(issues)

  // A publication column list must cover the replica identity, and PostgreSQL 15 refuses any column
  // list under REPLICA IDENTITY FULL: then the projection is applied in the pipeline instead.
  const projection = sync.model.columns
  // A shared stream names several publications: PostgreSQL refuses one table with different column lists in them (15+), so
  // a sync of a stream group publishes every column and projects in the pipeline.
  const listCovers = projection !== undefined && sync.stream !== 'shared' && table.replicaIdentity !== 'full' && table.identityColumns.every((c) => projection.includes(c))
  return {
    config: sync,
    table,
    columns: modelColumns,
    model: { table: table.name, columns: modelColumns.map((c) => c.name), keyColumns },
    composer,
    publication: { name: publicationName(sync), table: table.name, columns: listCovers ? projection : null, filter: sync.model.filter ?? null, filterPath: `${path}.model.filter` },
    slot: slotName(sync),
    shape: {
      model: modelColumns,
      streamed: (listCovers ? modelColumns : table.columns).map((c) => c.name),
      projected: projection !== undefined,
      policy: sync.schemaChanges,
      required: requiredColumns(sync, keyColumns),
      fixedSchema: message.format !== 'json',
    },
    warnings,
    messages: null,
  }
}

/** Generated columns PostgreSQL does not stream: every one before 18, VIRTUAL ones from 18 on (STORED ones are streamed there). */
function generatedMessage(table: string, columns: readonly string[]): string {
  const named = columns.map((c) => `"${c}"`).join(', ')
  return `${columns.length === 1 ? 'column' : 'columns'} ${named} of ${table} ${columns.length === 1 ? 'is' : 'are'} generated, and PostgreSQL does not stream ${columns.length === 1 ? 'its value' : 'their values'} (before 18 no generated column; from 18 on VIRTUAL ones), so ${columns.length === 1 ? 'it' : 'they'} cannot be in the model (a message would carry null where the table has a value)`
}

/** The columns the sync's config names outside the model itself: the sync cannot carry on without them. */
function requiredColumns(sync: SyncConfig, keyColumns: readonly string[]): string[] {
  const topic = typeof sync.topic === 'object' && 'column' in sync.topic ? [sync.topic.column] : []
  const message = [...Object.values(sync.message?.mapping ?? {}), ...(sync.message?.column === undefined ? [] : [sync.message.column])]
  const named = [...keyColumns, sync.key, sync.partition, ...Object.values(sync.headers ?? {}), ...topic, ...message]
  return [...new Set(named.filter((c): c is string => c !== undefined))]
}
