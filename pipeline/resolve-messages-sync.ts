import type { TableInfo } from '../connectors/postgres/catalog.ts'
import { messageColumns, MESSAGE_COLUMNS } from '../operators/classify-messages.ts'
import { compileComposer, type Composer } from '../operators/compose-message.ts'
import type { SyncConfig } from '../config/root-schema.ts'
import { ConfigError, type ConfigIssue } from '../core/errors.ts'
import { publicationName, slotName, type ResolvedSync } from './resolve-sync.ts'

/**
 * Checks a sync of logical messages (`model.messages`) and decides what the pipeline needs, like resolveSync for a
 * table: its columns are MESSAGE_COLUMNS and the content's `fields`; what the config names must be one of them.
 * Without `message`, the value is the content as it was emitted. Its publication has no table: pgoutput sends
 * logical messages whatever a publication holds, but START_REPLICATION needs one that exists. Pure.
 */
export function resolveMessagesSync(sync: SyncConfig, index: number): ResolvedSync {
  const path = `syncs[${index}]`
  const model = sync.model.messages
  if (model === undefined) throw new Error('resolveMessagesSync: not a messages sync') // programming error
  const fields = model.fields ?? []
  const issues: ConfigIssue[] = []
  fields.forEach((field, i) => {
    if (MESSAGE_COLUMNS.some((c) => c.name === field)) issues.push({ path: `${path}.model.messages.fields[${i}]`, message: `"${field}" is a column of every message (${MESSAGE_COLUMNS.map((c) => c.name).join(', ')}): read another field` })
  })
  const columns = messageColumns(fields, sync.message !== undefined)
  const names = new Set(columns.map((c) => c.name))
  const named = (column: string, at: string) => {
    if (!names.has(column)) issues.push({ path: at, message: `"${column}" is not a column of a message: one of ${[...names].join(', ')} (a field of the content must be listed in model.messages.fields)` })
  }
  if (sync.key !== undefined) named(sync.key, `${path}.key`)
  if (sync.partition !== undefined) named(sync.partition, `${path}.partition`)
  for (const [header, column] of Object.entries(sync.headers ?? {})) named(column, `${path}.headers.${header}`)
  if (typeof sync.topic === 'object' && 'column' in sync.topic) named(sync.topic.column, `${path}.topic.column`)
  const modelName = `the messages with prefix ${JSON.stringify(model.prefix)}`
  let composer: Composer = (ctx) => ctx.row.content as string
  if (sync.message !== undefined) {
    try {
      composer = compileComposer(sync.message, columns, `${path}.message`, modelName)
    } catch (error) {
      if (error instanceof ConfigError) issues.push(...error.issues)
      else throw error
    }
  }
  if (issues.length > 0) throw new ConfigError(issues)
  const table: TableInfo = { name: modelName, columns, generatedColumns: [], primaryKey: [], replicaIdentity: 'full', identityColumns: [], estimatedRows: 0 }
  return {
    config: sync,
    table,
    columns,
    model: { table: modelName, columns: columns.map((c) => c.name), keyColumns: [] },
    composer,
    publication: { name: publicationName(sync), table: null, columns: null, filter: null },
    slot: slotName(sync),
    shape: { model: [], streamed: [], projected: true, policy: sync.schemaChanges, required: [], fixedSchema: false },
    warnings: [],
    messages: { prefix: model.prefix, fields, json: sync.message !== undefined },
  }
}
