import type { Batch, Row, SourceChange } from '../../core/changes.ts'
import type { Lsn } from '../../core/lsn.ts'

/** The prefix of rowcast's snapshot watermarks in the WAL (pg_logical_emit_message); the stream decodes only these. */
export const WATERMARK_PREFIX = 'rowcast_snapshot'

/** A chunk read between its watermarks: its rows (as inserts) and where the next chunk starts. */
export interface ReadChunk {
  seq: number
  rows: SourceChange[]
  /** The chunk's last key as text (null when the chunk is empty). */
  lastKey: string[] | null
  /** Fewer rows than asked: nothing after this chunk. */
  last: boolean
}

/** A chunk handed to the stream at its high watermark, with the watermark transaction's commit position. */
export interface MergedChunk {
  chunk: ReadChunk
  /** Rows sent (the chunk's rows minus those the stream changed between the watermarks). */
  sent: number
  /** Those rows, in key order (not yet emitted: the coordinator numbers their snapshot marks). */
  rows: readonly SourceChange[]
  /** The watermark transaction's commit record: confirmed past it, the chunk is in Kafka. */
  commitLsn: Lsn
}

/**
 * DBLog's merge of a chunk into the change stream, pure and synchronous. Between a chunk's low and high
 * watermark the stream's changes are delivered as usual and their keys remembered; at the high watermark
 * the chunk's rows, minus those keys, become one or more batches of inserts placed right there in the
 * stream (tagged with the watermark's transaction, so exactly-once numbers them within it). A row changed
 * in the window is thus sent by the stream only, and a row deleted in it is never resurrected.
 * Watermarks of another run (replayed from before a restart) are ignored.
 * With no chunk expected, `observe` is one comparison per batch: the stream's cost when no snapshot runs.
 */
export class WatermarkMerge {
  readonly #table: string
  readonly #keyColumns: readonly string[]
  readonly #maxBatchRows: number
  readonly #run: string
  #expected: { seq: number; chunk: ReadChunk | null; merged: (merged: MergedChunk) => void } | null = null
  #open = false
  readonly #touched = new Set<string>()

  constructor(options: { table: string; keyColumns: readonly string[]; maxBatchRows: number; run: string }) {
    this.#table = options.table
    this.#keyColumns = options.keyColumns
    this.#maxBatchRows = options.maxBatchRows
    this.#run = options.run
  }

  /** The watermark text of chunk `seq`: `low` or `high`. */
  watermark(seq: number, kind: 'low' | 'high'): string {
    return `${this.#run}:${seq}:${kind}`
  }

  /** The next chunk to merge; `merged` is called when the stream passed its high watermark. */
  expect(seq: number, merged: (merged: MergedChunk) => void): void {
    this.#expected = { seq, chunk: null, merged }
    this.#open = false
    this.#touched.clear()
  }

  /** The rows of the expected chunk, read after its low watermark was written and before its high one. */
  read(chunk: ReadChunk): void {
    if (this.#expected?.seq === chunk.seq) this.#expected.chunk = chunk
  }

  /** Nothing more to merge (the snapshot stops or starts over). */
  cancel(): void {
    this.#expected = null
    this.#open = false
    this.#touched.clear()
  }

  /** Every stream batch passes here: inside a window, its keys are remembered. */
  observe(batch: Batch<SourceChange>): void {
    if (!this.#open) return
    for (const change of batch.items) {
      if (change.table !== this.#table) continue
      if (change.row !== null) this.#touched.add(this.keyOf(change.row))
      if (change.previous !== null) this.#touched.add(this.keyOf(change.previous))
    }
  }

  /** A watermark reached the stream (in transaction `txId`, committing at `commitLsn`): the batches to place here. */
  onWatermark(content: string, txId: number, commitLsn: Lsn, commitTime: number): Batch<SourceChange>[] {
    const expected = this.#expected
    if (expected === null) return []
    if (content === this.watermark(expected.seq, 'low')) {
      this.#open = true
      this.#touched.clear()
      return []
    }
    if (content !== this.watermark(expected.seq, 'high') || expected.chunk === null) return []
    const { chunk } = expected
    const rows = this.#touched.size === 0 ? chunk.rows : chunk.rows.filter((r) => !this.#touched.has(this.keyOf(r.row as Row)))
    this.#expected = null
    this.#open = false
    this.#touched.clear()
    const batches: Batch<SourceChange>[] = []
    for (let i = 0; i < rows.length; i += this.#maxBatchRows) batches.push({ items: rows.slice(i, i + this.#maxBatchRows), commitLsn: null, commitTime, txId })
    expected.merged({ chunk, sent: rows.length, rows, commitLsn })
    return batches
  }

  keyOf(row: Row): string {
    const columns = this.#keyColumns
    if (columns.length === 1) return keyText(row[columns[0]])
    let key = ''
    for (const column of columns) key += `${keyText(row[column])}\u0000`
    return key
  }
}

function keyText(value: unknown): string {
  return typeof value === 'object' && value !== null && !Buffer.isBuffer(value) ? JSON.stringify(value) : String(value)
}
