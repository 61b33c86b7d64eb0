/** The shapes of the data that flows through a sync, from the source's row changes to Kafka messages. */

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
  /** Whether a value can be large enough to be TOASTed (stored out of line), which an UPDATE may then not resend. */
  toastable?: boolean
}

/** What a message composer sees for one row change. */
export interface ComposeContext {
  row: Row
  previous: Row | null
  event: { type: ChangeType; table: string; commitTime: string; lsn: string }
}

/**
 * The unit that flows through a sync: the row changes of one PostgreSQL transaction, or one chunk of a
 * large one. Operators map the items of a batch but never drop a batch: the last batch of a transaction
 * carries `commitLsn`, and the checkpoint needs it even when every item was filtered away.
 */
export interface Batch<T> {
  items: T[]
  /** End LSN of the transaction this batch closes; null for a chunk in the middle, or a backfill batch. */
  commitLsn: bigint | null
  /** PostgreSQL commit time (ms since epoch), for end-to-end latency. */
  commitTime: number
  txId: number
}

/**
 * Stands for a large (TOASTed) value PostgreSQL did not resend with an UPDATE and no old row supplied:
 * the source puts it in the row, the classifier turns it into a row error. Never sent as data.
 */
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged TOAST value')

/**
 * A row change as the source decodes it, before the model is applied; or (op `message`) a logical message of a
 * messages sync, whose `table` is its prefix and `row` is { prefix, content (Buffer), transactional }.
 */
export interface SourceChange {
  op: 'insert' | 'update' | 'delete' | 'message'
  table: string
  /** New row for insert/update; null for delete. */
  row: Row | null
  /** Old row when PostgreSQL sent it (REPLICA IDENTITY FULL), else the key columns only, else null. */
  previous: Row | null
  /** Whether `previous` holds every column (FULL) or only the key. */
  previousIsFull: boolean
  lsn: string
  /** The source's promise that `row` and `previous` hold exactly the model's columns, in its order: classify need not copy them. */
  modelShaped?: boolean
  /** For an UPDATE with the full old row: the source compared every model column and none changed. */
  unchanged?: boolean
  /** Columns of an UPDATE whose unchanged large value the source read back from the table (their current value). */
  reselected?: string[]
  /** A snapshot row (backfill, resync): where its snapshot stands once this row is in Kafka. */
  snapshot?: SnapshotMark
}

/** The `lsn` of a snapshot row (backfill, resync): it was read beside the stream, at no position of its own. */
export const SNAPSHOT_ROW_LSN = '0/0'

/**
 * Where a chunked snapshot stands once a row is delivered: its run (a backfill or resync, started anew by
 * each resync), the row's key (text values, in key order) and the rows sent so far including it. Snapshot
 * rows reach Kafka in key order, so the snapshot may resume after the last delivered row's key: exactly-once
 * commits the mark of a request's last snapshot row in the same Kafka transaction as the row.
 */
export interface SnapshotMark {
  run: string
  key: string[]
  rows: number
}

/** A row change of the model: added, changed or removed. */
export interface ModelChange {
  type: ChangeType
  table: string
  /** The row as the model sees it (projected). For removed: the last known row (may be the key only). */
  row: Row
  previous: Row | null
  key: string | null
  lsn: string
  /** Columns whose large (TOASTed) value PostgreSQL did not resend and no old row supplied: a row error. */
  unavailable?: string[]
  /** Columns whose unchanged large value was read back from the table (see connectors/postgres/reselect-toast.ts). */
  reselected?: string[]
  /** Why this change cannot become a message (a logical message whose content is not the UTF-8 or JSON it must be): a row error. */
  invalid?: string
  /** A snapshot row's mark (see SnapshotMark), carried to the sink. */
  snapshot?: SnapshotMark
}

/** A message ready for Kafka, still carrying its origin for errors, dead letters and the debugger. */
export interface OutgoingMessage {
  change: ModelChange
  value: string | Buffer
  topic: string
  key: string | null
  partition: number | null
  headers: Record<string, string> | null
  /**
   * Set for dead-letter messages: the error that sent the change there, and the letter's value without the
   * row and previous row (with `note` saying why), for a letter too large for its topic.
   */
  deadLetter?: { reason: string; error: string; withoutRow?: (note: string) => string }
}

/** A change that could not become a message, awaiting the sync's onRowError policy. */
export interface RejectedChange {
  change: ModelChange
  error: Error
  reason: string
}

export function isRejected<T>(item: T | RejectedChange): item is RejectedChange {
  return typeof item === 'object' && item !== null && 'error' in item && (item as RejectedChange).error instanceof Error
}

/** Maps the items of every batch, keeping the batch (and its commit LSN) even when all items go. */
export function mapItems<A, B>(batch: Batch<A>, fn: (item: A) => B | undefined): Batch<B> {
  const items: B[] = []
  for (const item of batch.items) {
    const out = fn(item)
    if (out !== undefined) items.push(out)
  }
  return { items, commitLsn: batch.commitLsn, commitTime: batch.commitTime, txId: batch.txId }
}
