/** Shared shapes of the data that flows through a sync. */

/** A row as the pipeline sees it: column name -> JSON-ready value (see connectors/postgres/values.ts). */
export type Row = Record<string, unknown>

export type ChangeType = 'added' | 'changed' | 'removed'

/** A column of a model, as read from PostgreSQL's catalog at start-up. */
export interface ColumnInfo {
  name: string
  typeOid: number
  /** pg_type.typname: int4, int8, numeric, text, jsonb, timestamptz, bytea, _int4 (arrays start with _) … */
  typeName: string
  nullable: boolean
  /** For arrays, the element's typname (int4 for _int4). */
  elementTypeName?: string
}

/** What a message composer sees for one row change. */
export interface ComposeContext {
  row: Row
  previous: Row | null
  event: { type: ChangeType; table: string; commitTime: string; lsn: string }
}
