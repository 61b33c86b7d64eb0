import type { RowcastConfig, SyncConfig } from './root-schema.ts'

/**
 * Which stream each sync reads: its database's stream group (`stream: shared`, one slot and walsender for all)
 * or a slot of its own (`dedicated`). Unset means DEFAULT_STREAM, and never shared where a shared stream cannot work.
 */

/**
 * What `stream` unset prefers: the database's stream group (issue 17). `stream: dedicated` is the opt-out, a slot
 * of its own (`rowcast_<sync>` unless `slot:` names one); resolveStreams keeps it where sharing cannot work.
 */
export const DEFAULT_STREAM: 'shared' | 'dedicated' = 'shared'

/** Why a sync whose `stream` is unset reads a stream of its own (null: it shares its database's stream group). */
export function dedicatedBecause(sync: SyncConfig, onStandby: boolean): string | null {
  if (onStandby) return 'decoding on a standby (source.postgres.primaryUrl)'
  if (sync.slot !== undefined) return 'it names a slot of its own'
  if (sync.model.table === undefined) return 'a sync of logical messages'
  return null
}

/**
 * Resolves each sync's `stream`: as written, or when unset `preferred`; a preferred shared stream applies except where a shared stream cannot work
 * (dedicatedBecause), and for a sync of a table that shared syncs read with another row filter (PostgreSQL would
 * send each the rows of either filter). The order of the list decides which of two such syncs shares.
 */
export function resolveStreams<S extends SyncConfig>(syncs: readonly S[], onStandby: boolean, preferred = DEFAULT_STREAM): S[] {
  const filters = new Map<string, string | null>()
  for (const sync of syncs) if (sync.stream === 'shared' && sync.model.table !== undefined) filters.set(sync.model.table, sync.model.filter ?? null)
  return syncs.map((sync) => {
    if (sync.stream !== undefined) return sync
    if (preferred === 'dedicated') return { ...sync, stream: 'dedicated' as const }
    const table = sync.model.table
    if (dedicatedBecause(sync, onStandby) !== null || table === undefined) return { ...sync, stream: 'dedicated' as const }
    const filter = sync.model.filter ?? null
    if (filters.has(table) && filters.get(table) !== filter) return { ...sync, stream: 'dedicated' as const }
    filters.set(table, filter)
    return { ...sync, stream: 'shared' as const }
  })
}

/** One line per sync: the stream it reads, and why a sync with `stream` unset reads its own (rowcast validate, the start-up log). */
export function describeStreams(config: RowcastConfig, slotOf: (sync: SyncConfig) => string): string[] {
  const onStandby = config.source.postgres.primaryUrl !== undefined
  return config.syncs.map((sync) => {
    if (sync.stream === 'shared') return `${sync.name}: shared (stream group "${config.source.postgres.streamGroup.slot}")`
    const why = dedicatedBecause(sync, onStandby) ?? (sync.model.table !== undefined && config.syncs.some((other) => other.stream === 'shared' && other.model.table === sync.model.table && (other.model.filter ?? null) !== (sync.model.filter ?? null)) ? 'shared syncs read its table with another row filter' : 'stream: dedicated')
    return `${sync.name}: dedicated (slot "${slotOf(sync)}": ${why})`
  })
}
