import type { Batch, Row, SourceChange } from '../../core/changes.ts'
import type { Lsn } from '../../core/lsn.ts'

/** The prefix of rowcast's snapshot watermarks in the WAL (pg_logical_emit_message); the stream decodes only these. */
export const WATERMARK_PREFIX = 'rowcast_snapshot'

/** A chunk read between its watermarks: its rows (as inserts) and where the next chunk starts. */
export interface ReadChunk {
  seq: number
  rows: SourceChange[]
  /** Where the snapshot stands once this chunk is delivered: its last key, or the next page, as text. */
  end: string[] | null
  /** Nothing after this chunk. */
  last: boolean
}

/** A chunk handed to the stream at its high watermark, with the watermark transaction's commit position. */
export interface MergedChunk {
  chunk: ReadChunk
  /** Rows sent (the chunk's rows minus those the stream changed between the watermarks). */
  sent: number
  /** Those rows, in key order (not yet emitted: the coordinator numbers their snapshot marks); none for a sliced chunk (taken slice by slice). */
  rows: readonly SourceChange[]
  /** The watermark transaction's commit record, or for a sliced chunk the last commit before its last slice: confirmed past it, the chunk is in Kafka. */
  commitLsn: Lsn
}

interface Window {
  chunk: ReadChunk | null
  merged: (merged: MergedChunk) => void
  passed: () => void
  open: boolean
  touched: Set<string>
}

/** A sliced chunk past its high watermark: its rows wait to be taken, and the stream's keys keep leaving it. */
interface Pending {
  chunk: ReadChunk
  merged: (merged: MergedChunk) => void
  rows: readonly SourceChange[]
  next: number
  sent: number
  touched: Set<string>
}

/**
 * DBLog's merge of a chunk into the change stream, pure and synchronous. Between a chunk's low and high
 * watermark the stream's changes are delivered as usual and their row identities remembered; at the high
 * watermark the chunk's rows, minus those identities, become one or more batches of inserts placed right
 * there in the stream (tagged with the watermark's transaction, so exactly-once numbers them within it).
 * A row changed in the window is thus sent by the stream only, and a row deleted in it is never resurrected.
 * Several chunks may be in flight at once (parallel readers), each with its own window.
 * A row's identity is its key; for a table without one, every model column (the row's whole value, old and
 * new images alike: a chunk row equal to any image the window's changes carried is the stream's to send).
 * Watermarks of another run (replayed from before a restart) are ignored.
 * With no chunk expected, `observe` is one comparison per batch: the stream's cost when no snapshot runs.
 *
 * Sliced (`sliced: true`), a chunk is not placed whole at its high watermark: its rows wait there and are
 * taken a slice at a time (`take`) between the stream's transactions, as the sink has room, so a live change
 * never queues behind a whole chunk. The window stays open for them meanwhile: a row the stream changes
 * before its slice is taken leaves the chunk, exactly as between the watermarks. A slice taken before a
 * stream change of its key is followed by that change; one taken after it no longer holds the key. So a
 * row's last message is still its current state, and a deleted row is never resurrected.
 */
export class WatermarkMerge {
  readonly #table: string
  readonly #identity: readonly string[]
  readonly #maxBatchRows: number
  readonly #run: string
  readonly #sliced: boolean
  readonly #windows = new Map<number, Window>()
  /** Sliced chunks past their high watermark, in stream order, and their rows not yet taken. */
  #pending: Pending[] = []
  #open = 0

  constructor(options: { table: string; identity: readonly string[]; maxBatchRows: number; run: string; sliced?: boolean }) {
    this.#table = options.table
    this.#identity = options.identity
    this.#maxBatchRows = options.maxBatchRows
    this.#run = options.run
    this.#sliced = options.sliced ?? false
  }

  /** The watermark text of chunk `seq`: `low` or `high`. */
  watermark(seq: number, kind: 'low' | 'high'): string {
    return `${this.#run}:${seq}:${kind}`
  }

  /**
   * A chunk to merge; `passed` is called when the stream passed its high watermark, `merged` when the chunk
   * was placed in the stream: right then, or sliced, with its last slice.
   */
  expect(seq: number, merged: (merged: MergedChunk) => void, passed: () => void = () => undefined): void {
    this.#close(seq)
    this.#windows.set(seq, { chunk: null, merged, passed, open: false, touched: new Set() })
  }

  /** The rows of an expected chunk, read after its low watermark was written and before its high one. */
  read(chunk: ReadChunk): void {
    const window = this.#windows.get(chunk.seq)
    if (window !== undefined) window.chunk = chunk
  }

  /** Nothing more to merge (the snapshot stops or starts over). */
  cancel(): void {
    this.#windows.clear()
    this.#pending = []
    this.#open = 0
  }

  /** Whether a sliced chunk past its high watermark waits to be taken (perhaps with no rows left: it is placed by `take`). */
  get waiting(): boolean {
    return this.#pending.length > 0
  }

  /**
   * The next slice of the oldest sliced chunk past its high watermark: at most `maxRows` of its rows the
   * stream has not changed since its low watermark. `position` is the last commit the stream passed on before
   * this slice: when this slice ends the chunk, the chunk is placed there (confirmed past it, it is in Kafka),
   * after `taking` saw the slice (the coordinator numbers its rows' marks). Null when no rows wait.
   */
  take(maxRows: number, position: Lsn, taking: (slice: readonly SourceChange[]) => void = () => undefined): SourceChange[] | null {
    const pending = this.#pending[0]
    if (pending === undefined) return null
    const { rows, touched } = pending
    const slice: SourceChange[] = []
    let i = pending.next
    for (; i < rows.length && slice.length < maxRows; i++) {
      if (touched.size === 0 || !touched.has(this.keyOf(rows[i].row as Row))) slice.push(rows[i])
    }
    pending.next = i
    pending.sent += slice.length
    taking(slice)
    if (i === rows.length) {
      this.#pending.shift()
      pending.merged({ chunk: pending.chunk, sent: pending.sent, rows: [], commitLsn: position })
    }
    return slice
  }

  /** Every stream batch passes here: inside a window, its row identities are remembered. */
  observe(batch: Batch<SourceChange>): void {
    if (this.#open === 0 && this.#pending.length === 0) return
    for (const change of batch.items) {
      if (change.table !== this.#table) continue
      const row = change.row === null ? null : this.keyOf(change.row)
      const previous = change.previous === null ? null : this.keyOf(change.previous)
      for (const window of this.#windows.values()) {
        if (!window.open) continue
        if (row !== null) window.touched.add(row)
        if (previous !== null) window.touched.add(previous)
      }
      for (const pending of this.#pending) {
        if (row !== null) pending.touched.add(row)
        if (previous !== null) pending.touched.add(previous)
      }
    }
  }

  /** A watermark reached the stream (in transaction `txId`, committing at `commitLsn`): the batches to place here. */
  onWatermark(content: string, txId: number, commitLsn: Lsn, commitTime: number): Batch<SourceChange>[] {
    if (this.#windows.size === 0) return []
    const parsed = /^(.*):(\d+):(low|high)$/.exec(content)
    if (parsed === null || parsed[1] !== this.#run) return []
    const seq = Number(parsed[2])
    const window = this.#windows.get(seq)
    if (window === undefined) return []
    if (parsed[3] === 'low') {
      if (!window.open) this.#open++
      window.open = true
      window.touched.clear()
      return []
    }
    const { chunk, touched } = window
    if (chunk === null) return []
    this.#close(seq)
    if (this.#sliced) {
      // Its rows wait for `take`; the keys changed so far go on leaving it.
      this.#pending.push({ chunk, merged: window.merged, rows: chunk.rows, next: 0, sent: 0, touched })
      window.passed()
      return []
    }
    const rows = touched.size === 0 ? chunk.rows : chunk.rows.filter((r) => !touched.has(this.keyOf(r.row as Row)))
    const batches: Batch<SourceChange>[] = []
    for (let i = 0; i < rows.length; i += this.#maxBatchRows) batches.push({ items: rows.slice(i, i + this.#maxBatchRows), commitLsn: null, commitTime, txId })
    window.passed()
    window.merged({ chunk, sent: rows.length, rows, commitLsn })
    return batches
  }

  keyOf(row: Row): string {
    const columns = this.#identity
    if (columns.length === 1) return keyText(row[columns[0]])
    let key = ''
    for (const column of columns) key += `${keyText(row[column])}\u0000`
    return key
  }

  #close(seq: number): void {
    const window = this.#windows.get(seq)
    if (window === undefined) return
    if (window.open) this.#open--
    this.#windows.delete(seq)
  }
}

function keyText(value: unknown): string {
  if (value === null || value === undefined) return '\u0001' // NULL: no text a value could have
  return typeof value === 'object' && !Buffer.isBuffer(value) ? JSON.stringify(value) : String(value)
}
