import type pg from 'pg'
import { UNCHANGED_TOAST, type Batch, type ColumnInfo, type Row, type SourceChange } from '../../core/changes.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { JsonText } from '../../core/json-text.ts'
import { parserForColumn, type ValueParser } from './values.ts'

/**
 * Unchanged large values under a replica identity other than FULL (Debezium's "reselect columns"): PostgreSQL does
 * not resend a TOASTed value an UPDATE left unchanged, and sends no old row to take it from. The source reads the
 * missing columns back from the table by key, one query per batch (`WHERE (key) IN (...)`), and fills them in with
 * the row's current value, which is right for a message that carries the row's state. The change lists the columns
 * it read back (`reselected`: a header and the debugger say so). A row no longer in the table (deleted or re-keyed
 * since) has no current state: its UPDATE is not sent, with a warning; the DELETE or key change that removed it
 * follows in the WAL and is sent.
 */
export interface ReselectSpec {
  /** The table, as PostgreSQL names it (schema.table, quoted where needed). */
  table: string
  /** The model's columns; values are parsed as the stream parses them. */
  columns: readonly ColumnInfo[]
  /** Columns that identify one row (the model's key, inside the replica identity). */
  keyColumns: readonly string[]
}

export type Reselect = (batch: Batch<SourceChange>) => Batch<SourceChange> | Promise<Batch<SourceChange>>

export function reselectUnchangedToast(client: pg.ClientBase, spec: ReselectSpec, logger: Logger): Reselect {
  const parsers = new Map<string, ValueParser>(spec.columns.map((c) => [c.name, parserForColumn(c)]))
  const byName = new Map(spec.columns.map((c) => [c.name, c]))
  const keys = spec.keyColumns
  const keyOf = (values: unknown[]) => JSON.stringify(values)

  return (batch) => {
    const waiting: { index: number; missing: string[] }[] = []
    batch.items.forEach((change, index) => {
      if (change.op !== 'update' || change.row === null) return
      const row = change.row
      let missing: string[] | undefined
      for (const name in row) if (row[name] === UNCHANGED_TOAST) (missing ??= []).push(name)
      // A key too large to be resent cannot find its row: left as it is, a row error (ROW_VALUE_UNAVAILABLE).
      if (missing !== undefined && !keys.some((k) => row[k] === UNCHANGED_TOAST)) waiting.push({ index, missing })
    })
    if (waiting.length === 0) return batch // the common case: no query, no promise
    return fill(batch, waiting)
  }

  async function fill(batch: Batch<SourceChange>, waiting: { index: number; missing: string[] }[]): Promise<Batch<SourceChange>> {
    const wanted = [...new Set(waiting.flatMap((w) => w.missing))]
    const params: string[] = []
    const tuples = waiting.map(({ index }) => {
      const row = batch.items[index].row as Row
      const placeholders = keys.map((k) => {
        params.push(sqlText(row[k]))
        return `$${params.length}::${quote(byName.get(k)?.typeName ?? 'text')}`
      })
      return `(${placeholders.join(', ')})`
    })
    const select = [...keys, ...wanted].map((c) => `${quote(c)}::text`).join(', ')
    const text = `SELECT ${select} FROM ${spec.table} WHERE (${keys.map(quote).join(', ')}) IN (${tuples.join(', ')})`
    let result: pg.QueryResult<unknown[]>
    try {
      result = await client.query<unknown[]>({ text, values: params, rowMode: 'array' })
    } catch (error) {
      throw new RowcastError('PG_RESELECT_FAILED', `could not read back unchanged large values of ${spec.table}: ${errorMessage(error)}`, { cause: error })
    }
    const current = new Map<string, unknown[]>()
    for (const values of result.rows) current.set(keyOf(keys.map((k, i) => plain(parse(k, values[i])))), values.slice(keys.length))
    const items = batch.items.slice()
    const gone: number[] = []
    for (const { index, missing } of waiting) {
      const change = items[index]
      const row = change.row as Row
      const found = current.get(keyOf(keys.map((k) => plain(row[k]))))
      if (found === undefined) {
        gone.push(index)
        logger.warn({ table: spec.table, key: keys.map((k) => sqlText(row[k])), columns: missing, lsn: change.lsn }, 'an UPDATE left large values unchanged, and the row is no longer in the table to read them from: the UPDATE is not sent (the later DELETE or key change is)')
        continue
      }
      const filled: Row = { ...row }
      for (const name of missing) filled[name] = parse(name, found[wanted.indexOf(name)])
      items[index] = { ...change, row: filled, modelShaped: change.modelShaped === true, reselected: missing }
    }
    const kept = gone.length === 0 ? items : items.filter((_, i) => !gone.includes(i))
    return { ...batch, items: kept }
  }

  function parse(column: string, text: unknown): unknown {
    if (text === null || text === undefined) return null
    const parser = parsers.get(column)
    return parser === undefined ? text : parser(String(text))
  }
}

/** A key value comparable across the stream and the query (a json key compares by its text). */
function plain(value: unknown): unknown {
  return value instanceof JsonText ? value.text : value
}

/** A row value back as text PostgreSQL reads as the column's type. */
function sqlText(value: unknown): string {
  if (value instanceof JsonText) return value.text
  if (typeof value === 'string') return value
  return typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}
