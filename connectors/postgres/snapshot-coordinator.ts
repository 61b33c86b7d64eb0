import { randomUUID } from 'node:crypto'
import type pg from 'pg'
import { Observable } from 'rxjs'
import type { Batch, SnapshotMark, SourceChange } from '../../core/changes.ts'
import { errorMessage, type RowcastError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { Lsn } from '../../core/lsn.ts'
import { ChunkProgress, type DeliveredChunk } from './chunk-progress.ts'
import { ChunkedSnapshot, type ChunkedSnapshotOptions } from './chunked-snapshot.ts'
import { beginSnapshot, ensureSnapshotColumns, readSnapshotProgress, recordChunk, type SnapshotProgress } from './snapshot-state.ts'
import { emitHeartbeat } from './stream.ts'
import { finishBackfill } from './sync-state.ts'
import { WATERMARK_PREFIX, WatermarkMerge, type MergedChunk } from './watermark-merge.ts'

/** What the coordinator needs besides what each chunk read takes (the model's table, columns, key, filter and pace). */
export interface SnapshotCoordinatorOptions extends Pick<ChunkedSnapshotOptions, 'table' | 'columns' | 'keyColumns' | 'filter' | 'chunkRows' | 'chunkTimeMs' | 'parallelism' | 'maxRowsPerSecond'> {
  url: string
  /** What matches a stream change to a chunk row: the key, or every model column for a table without one. */
  identity: readonly string[]
  sync: string
  maxBatchRows: number
  /**
   * Rows per slice when a chunk's rows go into the stream a slice at a time, between its transactions, as the
   * sink has room (`room`); absent: each chunk whole at its high watermark (exactly-once numbers a chunk's
   * rows within the watermark's transaction).
   */
  sliceRows?: number
  /** Whether the sink has room for another slice now (not paused, little in flight). */
  room?: () => boolean
  capacity: () => Promise<void>
  onProgress: (done: number, total: number, chunkRows: number) => void
  onError: (error: RowcastError) => void
  logger: Logger
}

/** Placed in the stream at `commitLsn`: a whole chunk, or (one reader by key, sliced) a slice ending at a row's mark. */
type Placed = (DeliveredChunk & { commitLsn: Lsn; mark?: undefined }) | { commitLsn: Lsn; mark: { after: string[]; rows: number } }

/**
 * Runs the sync's chunked snapshot beside its stream, one run at a time: started when the source starts
 * streaming (a backfill not yet delivered, resumed at its last delivered chunk) or when a resync is asked
 * for (from the first row, the stream going on). A chunk's position is recorded in _rowcast only once the
 * checkpoint confirmed past its high watermark, i.e. once Kafka acknowledged every message up to it; with
 * several readers chunks may be delivered out of order, and the position recorded is the end of the
 * longest run of delivered chunks from the start (a later chunk delivered early is read again after a crash).
 * One reader by key, sliced: each delivered slice is recorded too (its last row's key), so a crash re-sends
 * at most what was in flight and not yet recorded, not the chunk's slices already in Kafka.
 */
export class SnapshotCoordinator {
  readonly #control: pg.ClientBase
  readonly #options: SnapshotCoordinatorOptions
  #merge: WatermarkMerge | null = null
  #runner: ChunkedSnapshot | null = null
  #from: SnapshotProgress | null = null
  /** Chunks and marked slices placed in the stream, not yet confirmed, in stream order. */
  #placed: Placed[] = []
  /** The position the run may record, from the chunks delivered so far. */
  #progress = new ChunkProgress({ after: null, rows: 0, run: '' })
  /** The seq of the run's last chunk, once placed. */
  #lastSeq: number | null = null
  #rows = 0
  /** State writes, one after the other (a resync's reset must not be overtaken by an older chunk's record). */
  #writes: Promise<void> = Promise.resolve()
  /** Sliced: where slices go (the source's batches, while subscribed), the last commit passed on, and whether a transaction is open. */
  #emit: ((batch: Batch<SourceChange>) => void) | null = null
  #position: Lsn = 0n
  #inTransaction = false
  #pumping = false

  constructor(control: pg.ClientBase, options: SnapshotCoordinatorOptions) {
    this.#control = control
    this.#options = options
  }

  /** Before streaming: whether a snapshot is to run, and from where (a resync asked for starts over). */
  async prepare(snapshot: boolean, restart: boolean): Promise<void> {
    await ensureSnapshotColumns(this.#control)
    if (!snapshot) return
    this.#from = restart ? await beginSnapshot(this.#control, this.#options.sync) : await readSnapshotProgress(this.#control, this.#options.sync)
  }

  /**
   * Exactly-once, before the snapshot starts: the mark committed to Kafka with the last snapshot row (in the
   * same transaction). When it is of this run and further than _rowcast's record (rows Kafka has but whose
   * chunk was not yet recorded, or only part of a chunk), the snapshot resumes after its key: nothing twice.
   */
  resumeAt(mark: SnapshotMark | null | undefined): void {
    const from = this.#from
    if (mark == null || from === null || this.#runner !== null || mark.run !== from.run || mark.rows <= from.rows) return
    this.#options.logger.info({ after: mark.key, rows: mark.rows, recorded: from.rows }, 'exactly-once: the snapshot resumes after the last row committed to Kafka')
    this.#from = { after: mark.key, rows: mark.rows, run: from.run }
  }

  /** Whether a snapshot waits to run (or runs). */
  get pending(): boolean {
    return this.#from !== null || this.#runner !== null
  }

  /** The stream started: run the pending snapshot, if any. */
  start(): void {
    if (this.#from === null || this.#runner !== null) return
    const from = this.#from
    const { logger, maxBatchRows, identity, table } = this.#options
    const sliceRows = this.#options.sliceRows
    const merge = new WatermarkMerge({ table, identity, maxBatchRows, run: randomUUID().slice(0, 8), sliced: sliceRows !== undefined })
    this.#rows = from.rows
    this.#progress = new ChunkProgress(from)
    this.#lastSeq = null
    this.#merge = merge
    this.#runner = new ChunkedSnapshot({
      ...this.#options,
      connectionString: this.#options.url,
      merge,
      from,
      onChunk: (merged, estimated) => this.#placedChunk(merged, estimated),
      logger,
    })
    this.#runner.start()
  }

  /** A resync asked for while streaming: the running snapshot (if any) stops and a new one starts from the first row. */
  async restart(): Promise<void> {
    await this.#stopRunner()
    this.#placed = []
    const begun = this.#writes.then(() => beginSnapshot(this.#control, this.#options.sync))
    this.#writes = begun.then(() => undefined)
    this.#from = await begun
    this.start()
  }

  /**
   * The stream's batches, each seen by the merge right before it is passed on (cheap when no snapshot runs);
   * sliced, the chunks' slices are passed on between them (`pump`), never inside a transaction.
   */
  interleave(batches: Observable<Batch<SourceChange>>, start: Lsn): Observable<Batch<SourceChange>> {
    return new Observable<Batch<SourceChange>>((subscriber) => {
      this.#position = start
      this.#inTransaction = false
      this.#emit = (batch) => subscriber.next(batch)
      const subscription = batches.subscribe({
        next: (batch) => {
          this.#merge?.observe(batch)
          subscriber.next(batch)
          this.#inTransaction = batch.commitLsn === null
          if (batch.commitLsn !== null && batch.commitLsn > this.#position) this.#position = batch.commitLsn
          this.pump()
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      })
      return () => {
        this.#emit = null
        subscription.unsubscribe()
      }
    })
  }

  /**
   * Sliced: passes on the next slices of the chunks past their high watermark while the sink has room
   * (called after each stream batch, and when the sink acknowledged a request or the source resumed).
   */
  pump(): void {
    const { sliceRows, room } = this.#options
    const merge = this.#merge
    if (sliceRows === undefined || merge === null || this.#pumping) return
    this.#pumping = true
    try {
      while (this.#emit !== null && merge === this.#merge && !this.#inTransaction && merge.waiting && (room?.() ?? true)) {
        const rows = merge.take(sliceRows, this.#position, (slice) => this.#number(slice))
        if (rows === null) break
        if (rows.length === 0) continue
        this.#emit({ items: rows, commitLsn: null, commitTime: Date.now(), txId: 0 })
        const mark = rows[rows.length - 1]?.snapshot
        if (mark !== undefined) this.#placed.push({ commitLsn: this.#position, mark: { after: mark.key, rows: mark.rows } })
      }
    } finally {
      this.#pumping = false
    }
  }

  onWatermark(content: string, txId: number, commitLsn: Lsn, commitTime: number): Batch<SourceChange>[] {
    return this.#merge?.onWatermark(content, txId, commitLsn, commitTime) ?? []
  }

  /** The checkpoint confirmed `position`: chunks whose watermark commits before it are in Kafka. */
  confirmed(position: Lsn): void {
    let confirmed = 0
    while (confirmed < this.#placed.length && this.#placed[confirmed].commitLsn < position) confirmed++
    if (confirmed === 0) return
    const entries = this.#placed.splice(0, confirmed)
    const advanced = this.#progress.deliver(entries.filter((entry) => entry.mark === undefined))
    let { progress, last } = advanced ?? { progress: null, last: false }
    // A slice confirmed after the last whole chunk: the snapshot stands at its last row (rows are marked only
    // where they reach Kafka in key order, so everything before that row is in Kafka too).
    const slice = entries[entries.length - 1]?.mark
    if (slice !== undefined && !last && this.#progress.gapless && slice.rows > this.#progress.position.rows) {
      progress = { ...this.#progress.position, after: slice.after, rows: slice.rows }
      last = false
    }
    if (progress === null) return
    const { sync, logger } = this.#options
    this.#writes = this.#writes
      .then(() => recordChunk(this.#control, sync, progress))
      .then(() => (last ? finishBackfill(this.#control, sync).then(() => logger.info({ rows: progress.rows }, 'snapshot delivered')) : undefined))
      .catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'could not record the snapshot position; a restart sends its last chunks again'))
  }

  async stop(): Promise<void> {
    await this.#stopRunner()
    await this.#writes
  }

  /** Numbers the snapshot marks of rows about to be passed on. */
  #number(rows: readonly SourceChange[]): void {
    for (const row of rows) {
      this.#rows++
      if (row.snapshot !== undefined) row.snapshot.rows = this.#rows
    }
  }

  #placedChunk(merged: MergedChunk, estimated: number): void {
    const { chunk, sent, commitLsn } = merged
    this.#number(merged.rows)
    this.#placed.push({ commitLsn, seq: chunk.seq, end: chunk.end, sent, last: chunk.last })
    if (chunk.last) this.#lastSeq = chunk.seq
    const placedChunks = this.#placed.reduce((n, entry) => n + (entry.mark === undefined ? 1 : 0), 0)
    const finished = this.#lastSeq !== null && placedChunks + this.#progress.delivered === this.#lastSeq + 1
    this.#options.onProgress(this.#rows, finished ? this.#rows : Math.max(estimated, this.#rows), sent)
    if (finished) {
      this.#from = null
      this.#runner = null
      this.#merge = null
      // The last slice is in Kafka once the checkpoint confirms past it: a commit right behind it gets that
      // said now instead of at the next heartbeat (a watermark of no chunk: the stream passes it on, nothing else).
      if (this.#options.sliceRows !== undefined) {
        emitHeartbeat(this.#control, WATERMARK_PREFIX).catch((error: unknown) => this.#options.logger.debug({ error: errorMessage(error) }, 'could not write the mark after the last slice'))
      }
    }
  }

  async #stopRunner(): Promise<void> {
    const runner = this.#runner
    this.#runner = null
    this.#merge = null
    this.#from = null
    await runner?.stop()
  }
}
