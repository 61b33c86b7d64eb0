import { map, type OperatorFunction } from 'rxjs'
import { UNCHANGED_TOAST, type Batch, type ModelChange, type SourceChange } from '../core/changes.ts'
import type { Row } from '../core/changes.ts'
import { JsonText, jsonPlainText } from '../core/json-text.ts'

/** The model as the pipeline applies it: which columns it has and which identify a row. */
export interface ModelShape {
  table: string
  columns: readonly string[]
  keyColumns: readonly string[]
}

/**
 * Classifies each row change for the model: INSERT -> added, DELETE -> removed, UPDATE -> changed only
 * when a column of the model changed. PostgreSQL's publication row filter already turns an UPDATE that
 * enters or leaves the filter into an INSERT or DELETE, so added/removed match a diff of the model.
 * Without the old row (no REPLICA IDENTITY FULL) every UPDATE counts as changed. An UPDATE of the key
 * is removed (old key) + added (new key), as a diff of the model keyed by it would say.
 */
export function classify(model: ModelShape, onUnchanged?: (count: number) => void): OperatorFunction<Batch<SourceChange>, Batch<ModelChange>> {
  const project = projector(model.columns)
  const keyOf = keyFormatter(model.keyColumns)
  const keyChange = keyChangeDetector(model.keyColumns, keyOf)
  return map((batch) => {
    let unchanged = 0
    const out = flatMapItems(batch, (change): ModelChange | ModelChange[] | undefined => {
      switch (change.op) {
        case 'insert': {
          const row = change.modelShaped === true ? (change.row as Row) : project(change.row as Row)
          const added: ModelChange = { type: 'added', table: change.table, row, previous: null, key: keyOf(row), lsn: change.lsn }
          if (change.snapshot !== undefined) added.snapshot = change.snapshot
          return added
        }
        case 'update': {
          const shaped = change.modelShaped === true
          const row = shaped ? (change.row as Row) : project(change.row as Row)
          const previous = change.previous === null ? null : shaped ? change.previous : project(change.previous)
          if (change.previous !== null && previous !== null && keyChange(change.previous, row)) {
            // The row the model knew under the old key is gone, and one under the new key appeared.
            return [
              { type: 'removed', table: change.table, row: previous, previous: null, key: keyOf(previous), lsn: change.lsn },
              { type: 'added', table: change.table, row, previous: null, key: keyOf(row), lsn: change.lsn },
            ]
          }
          if (change.previousIsFull && previous !== null && (change.unchanged ?? sameValues(previous, row, model.columns))) {
            unchanged++
            return undefined
          }
          const unavailable = model.columns.filter((c) => row[c] === UNCHANGED_TOAST)
          return {
            type: 'changed', table: change.table, row, previous: change.previousIsFull ? previous : null, key: keyOf(row), lsn: change.lsn,
            ...(unavailable.length > 0 ? { unavailable } : {}),
            ...(change.reselected === undefined ? {} : { reselected: change.reselected }),
          }
        }
        case 'delete': {
          const row = change.modelShaped === true && change.previous !== null ? change.previous : project(change.previous ?? {})
          return { type: 'removed', table: change.table, row, previous: null, key: keyOf(row), lsn: change.lsn }
        }
        case 'message':
          return undefined // only a messages sync has them (operators/classify-messages.ts)
      }
    })
    if (unchanged > 0) onUnchanged?.(unchanged)
    return out
  })
}

/** Like mapItems, but one change may become several (an UPDATE of the key: removed + added). */
function flatMapItems<A, B>(batch: Batch<A>, fn: (item: A) => B | B[] | undefined): Batch<B> {
  const items: B[] = []
  for (const item of batch.items) {
    const out = fn(item)
    if (Array.isArray(out)) items.push(...out)
    else if (out !== undefined) items.push(out)
  }
  return { items, commitLsn: batch.commitLsn, commitTime: batch.commitTime, txId: batch.txId }
}

/**
 * Whether an UPDATE moved the row to another key. Only decidable when PostgreSQL sent the old values of
 * every key column: the full old row (REPLICA IDENTITY FULL), or the old key (DEFAULT identity sends it
 * exactly when the key changed).
 */
function keyChangeDetector(keyColumns: readonly string[], keyOf: (row: Row) => string | null): (old: Row, row: Row) => boolean {
  if (keyColumns.length === 0) return () => false
  return (old, row) => keyColumns.every((c) => old[c] !== undefined) && keyOf(old) !== keyOf(row)
}

/** Builds a row with exactly the model's columns, in the model's order (absent columns -> null). */
function projector(columns: readonly string[]): (row: Row) => Row {
  return (row) => {
    const out: Row = {}
    for (const column of columns) {
      const value = row[column]
      out[column] = value === undefined ? null : value
    }
    return out
  }
}

/**
 * The row's key as text: one key column's text form; several as a JSON array of their text forms (null for NULL),
 * `["a,b","c"]`, so that no two keys share a text (joining by ',' made ('a,b','c') and ('a','b,c') one key).
 */
export function keyFormatter(keyColumns: readonly string[]): (row: Row) => string | null {
  if (keyColumns.length === 0) return () => null
  if (keyColumns.length === 1) {
    const [column] = keyColumns
    return (row) => textForm(row[column])
  }
  return (row) => JSON.stringify(keyColumns.map((c) => textForm(row[c])))
}

/** The text form of a value, as used for keys and headers: NULL -> null. */
export function textForm(value: unknown): string | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return value
  if (value instanceof JsonText) return jsonPlainText(value)
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

function sameValues(a: Row, b: Row, columns: readonly string[]): boolean {
  for (const column of columns) {
    const x = a[column]
    const y = b[column]
    if (x === y) continue
    if (x instanceof JsonText && y instanceof JsonText) {
      if (x.text === y.text) continue // jsonb text is canonical; json's is what the consumer gets, so a new text is a change
      return false
    }
    if (typeof x === 'object' && typeof y === 'object' && x !== null && y !== null && JSON.stringify(x) === JSON.stringify(y)) continue
    return false
  }
  return true
}
