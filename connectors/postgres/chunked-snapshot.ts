import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { SNAPSHOT_ROW_LSN, type ColumnInfo, type Row, type SourceChange } from '../../core/changes.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { KeyRangePlan, PageRangePlan, type ChunkPlan, type PlannedChunk } from './chunk-plan.ts'
import { ChunkSize } from './chunk-size.ts'
import { sessionConfig } from './session.ts'
import type { SnapshotProgress } from './snapshot-state.ts'
import { parserForColumn } from './values.ts'
import { WATERMARK_PREFIX, type MergedChunk, type ReadChunk, type WatermarkMerge } from './watermark-merge.ts'

export interface ChunkedSnapshotOptions {
  connectionString: string
  /** schema.table */
  table: string
  /** The columns read (classify projects them to the model). */
  columns: readonly ColumnInfo[]
  /** The model's key, in order: chunks follow it. Empty: a table without a key, read by page ranges. */
  keyColumns: readonly string[]
  filter: string | null
  chunkRows: number
  /** A read time per chunk to adapt the chunk's rows to (none: always `chunkRows`). */
  chunkTimeMs?: number
  /** Chunks read at once, each by its own connection (bounded by the server's free connections). */
  parallelism: number
  /** A ceiling on rows read per second (none: as fast as Kafka takes them). */
  maxRowsPerSecond?: number
  merge: WatermarkMerge
  /** Where to start: after the last delivered chunk. */
  from: SnapshotProgress
  /** Resolves when the sink has room (the stream is not paused): a chunk is only read then. */
  capacity: () => Promise<void>
  /** A chunk was placed in the stream (at its high watermark, synchronously, before the watermark's commit; sliced: with its last slice). */
  onChunk: (merged: MergedChunk, estimatedRows: number) => void
  /** The snapshot failed: the source fails the attempt (the next one resumes at the last delivered chunk). */
  onError: (error: RowcastError) => void
  logger: Logger
}

/** Connections a snapshot leaves free on the server for everyone else when it opens more readers. */
const SPARE_CONNECTIONS = 5

/**
 * The SQL half of the chunked snapshot (DBLog), on normal connections beside the replication one: each
 * reader takes the next chunk of the plan (key ranges, or page ranges for a table without a key), writes
 * its low watermark into the WAL, reads it (one statement: one consistent snapshot, taken between the two
 * watermarks), writes its high watermark, and waits until the stream merged the chunk (watermark-merge.ts)
 * before taking the next. The stream never stops meanwhile.
 */
export class ChunkedSnapshot {
  readonly #options: ChunkedSnapshotOptions
  readonly #clients: pg.Client[] = []
  #stopped = false
  #wake: () => void = () => undefined
  readonly #stopping: Promise<null>
  #done: Promise<void> = Promise.resolve()
  #rowsRead = 0
  #started = 0
  #estimated = 0
  /** Chunks handed out, those not yet placed in the stream, and readers waiting for one to be placed. */
  #taken = 0
  readonly #unplaced = new Set<number>()
  #placedWaiters: (() => void)[] = []
  /** How far (in chunks) a reader may run ahead of the oldest chunk not yet placed. */
  #ahead = 1

  constructor(options: ChunkedSnapshotOptions) {
    this.#options = options
    this.#stopping = new Promise<null>((resolve) => (this.#wake = () => resolve(null)))
  }

  start(): void {
    this.#done = this.#run()
      .catch((error: unknown) => {
        if (!this.#stopped) this.#options.onError(translateSnapshotError(error, this.#options.table))
      })
      .finally(() => this.#endClients())
  }

  async stop(): Promise<void> {
    this.#stopped = true
    this.#options.merge.cancel()
    this.#wake()
    await this.#endClients()
    await this.#done
  }

  async #run(): Promise<void> {
    const { table, chunkRows, chunkTimeMs, keyColumns, from, logger } = this.#options
    const planner = await this.#connect()
    const estimatedRows = await estimateRows(planner, table)
    this.#estimated = estimatedRows
    const readers = await this.#readerCount(planner)
    const size = new ChunkSize(chunkRows, chunkTimeMs)
    const plan: ChunkPlan = keyColumns.length === 0
      ? await PageRangePlan.create(planner, this.#options, size, from.after, estimatedRows)
      : new KeyRangePlan(planner, this.#options, size, from.after, readers > 1)
    const by = keyColumns.length === 0 ? `pages${plan instanceof PageRangePlan ? ` (to page ${plan.endPage})` : ''}` : 'key'
    logger.info({ table, after: from.after, rows: from.rows, chunkRows, chunkTimeMs, readers, by }, from.after === null ? 'snapshot starting' : 'snapshot resuming after the last delivered chunk')
    this.#started = Date.now()
    this.#ahead = Math.max(2, readers)
    const clients = [planner]
    for (let i = 1; i < readers && !this.#stopped; i++) clients.push(await this.#connect())
    const marked = readers === 1 && keyColumns.length > 0
    await Promise.all(clients.map((client) => this.#readChunks(client, plan, marked)))
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client(sessionConfig(this.#options.connectionString))
    client.on('error', () => undefined) // surfaces as the failure of the query in flight
    this.#clients.push(client)
    await client.connect()
    return client
  }

  /** `snapshot.parallelism`, but never more extra connections than the server has free (keeping a few spare). */
  async #readerCount(client: pg.Client): Promise<number> {
    const { parallelism, logger } = this.#options
    if (parallelism <= 1) return 1
    const result = await client.query<{ free: number }>(
      `SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
              - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int AS free`,
    )
    const free = Number(result.rows[0]?.free ?? 0)
    const readers = Math.max(1, Math.min(parallelism, 1 + free - SPARE_CONNECTIONS))
    if (readers < parallelism) logger.warn({ parallelism, readers, freeConnections: free }, 'snapshot.parallelism capped by the free connections of the server')
    return readers
  }

  /** One reader: chunk after chunk of the plan, each between its watermarks, each past its high watermark before the next. */
  async #readChunks(client: pg.Client, plan: ChunkPlan, marked: boolean): Promise<void> {
    const { merge, maxRowsPerSecond } = this.#options
    const read = this.#reader(client, marked)
    while (!this.#stopped) {
      const wait = throttleDelayMs(this.#rowsRead, Date.now() - this.#started, maxRowsPerSecond)
      if (wait > 0) await Promise.race([new Promise((r) => setTimeout(r, wait)), this.#stopping])
      await Promise.race([this.#options.capacity(), this.#stopping])
      await this.#roomAhead()
      if (this.#stopped) return
      const planned = await plan.next()
      if (planned === null || this.#stopped) return
      const { seq } = planned
      this.#taken = Math.max(this.#taken, seq + 1)
      this.#unplaced.add(seq)
      // Placed in the stream synchronously, right before the high watermark's commit (recorded there too), or,
      // sliced, with its last slice. The reader goes on once the high watermark passed (sliced: while the
      // chunk's slices wait for room; `#roomAhead` bounds the chunks read but not yet placed).
      // Resolves with `true`, never the chunk: each Promise.race below leaves a reaction on the long-lived
      // `#stopping` promise that keeps the race's value alive until the snapshot ends (every chunk's rows, 1.4 GB
      // for 1,000,000 rows in the snapshot bench).
      const passed = new Promise<true>((resolve) => merge.expect(seq, (placed: MergedChunk) => {
        this.#options.onChunk(placed, this.#estimated)
        this.#unplaced.delete(seq)
        for (const wake of this.#placedWaiters.splice(0)) wake()
      }, () => resolve(true)))
      await this.#watermark(client, merge.watermark(seq, 'low'))
      const started = performance.now()
      const chunk = await read(planned)
      plan.read(planned, chunk, performance.now() - started)
      merge.read(chunk)
      this.#rowsRead += chunk.rows.length
      await this.#watermark(client, merge.watermark(seq, 'high'))
      if ((await Promise.race([passed, this.#stopping])) === null) return
    }
  }

  /**
   * Several readers: one slow chunk must not let the others run far ahead, since the position recorded is the
   * end of the delivered run from the start (a crash re-sends what lies beyond): at most `max(2, readers)`
   * chunks past the oldest one not yet placed in the stream. Reading is several times faster than Kafka takes
   * rows, so more ahead only holds more rows in memory, long enough to outlive V8's young generation (with
   * `2 × readers`, GC took a quarter of rowcast's CPU in the snapshot bench).
   */
  async #roomAhead(): Promise<void> {
    while (!this.#stopped) {
      let oldest = this.#taken
      for (const seq of this.#unplaced) oldest = Math.min(oldest, seq)
      if (this.#taken - oldest < this.#ahead) return
      await Promise.race([new Promise<void>((resolve) => this.#placedWaiters.push(resolve)), this.#stopping])
    }
  }

  #watermark(client: pg.Client, content: string): Promise<unknown> {
    return client.query('SELECT pg_logical_emit_message(true, $1, $2)', [WATERMARK_PREFIX, content])
  }

  /**
   * Runs a planned chunk's read; values stay text until our parsers decode them. Rows come as arrays in the
   * plan's SELECT order (`columns`): no object per row for pg to build and us to drop.
   */
  #reader(client: pg.Client, marked: boolean): (planned: PlannedChunk) => Promise<ReadChunk> {
    const { table, columns, keyColumns, from } = this.#options
    const raw = { getTypeParser: () => (text: string) => text }
    const names = columns.map((c) => c.name)
    const parsers = columns.map((c) => parserForColumn(c))
    const keyAt = keyColumns.map((name) => names.indexOf(name))
    if (keyAt.includes(-1)) throw new RowcastError('CONFIG_INVALID', `snapshot of ${table}: key column "${keyColumns[keyAt.indexOf(-1)]}" is not among the columns read`)
    const keyOf = (values: (string | null)[]): string[] => keyAt.map((at) => values[at] ?? '')
    return async (planned) => {
      const result = await client.query<(string | null)[]>({ text: planned.text, values: planned.values, types: raw, rowMode: 'array' })
      const rows: SourceChange[] = result.rows.map((values) => {
        const row: Row = {}
        for (let i = 0; i < names.length; i++) {
          const text = values[i]
          row[names[i] as string] = text === null || text === undefined ? null : (parsers[i] as (text: string) => unknown)(text)
        }
        // Its mark: the key it resumes after once delivered (the coordinator numbers the rows sent). Only where
        // rows reach Kafka in key order (one reader, by key); otherwise the resume is the contiguous chunk position.
        if (!marked) return { op: 'insert', table, row, previous: null, previousIsFull: false, lsn: SNAPSHOT_ROW_LSN }
        return { op: 'insert', table, row, previous: null, previousIsFull: false, lsn: SNAPSHOT_ROW_LSN, snapshot: { run: from.run, key: keyOf(values), rows: 0 } }
      })
      const lastRow = result.rows.at(-1)
      const lastKey = lastRow === undefined || keyColumns.length === 0 ? null : keyOf(lastRow)
      const last = planned.last ?? rows.length < (planned.limit ?? Infinity)
      return { seq: planned.seq, rows, end: planned.end ?? lastKey ?? planned.after, last }
    }
  }

  async #endClients(): Promise<void> {
    await Promise.all(this.#clients.map((client) => client.end().catch(() => undefined)))
  }
}

/** The table's size from pg_class.reltuples; a table never analyzed (-1, or 0) is counted once instead. */
async function estimateRows(client: pg.Client, table: string): Promise<number> {
  const estimate = await client.query<{ n: number }>('SELECT reltuples::float8 AS n FROM pg_class WHERE oid = $1::regclass', [table])
  const n = Number(estimate.rows[0]?.n ?? 0)
  if (n >= 1) return Math.round(n)
  return Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0].n)
}

/** How long to wait before the next chunk so that `rows` read in `elapsedMs` stay under the ceiling. */
export function throttleDelayMs(rows: number, elapsedMs: number, maxRowsPerSecond: number | undefined): number {
  if (maxRowsPerSecond === undefined) return 0
  return Math.max(0, Math.ceil((rows / maxRowsPerSecond) * 1000 - elapsedMs))
}

/** A broken connection is worth another attempt (it resumes at the last delivered chunk); an error in the query is not. */
function translateSnapshotError(error: unknown, table: string): RowcastError {
  if (error instanceof RowcastError) return error
  const sqlState = (error as { code?: unknown }).code
  const inQuery = typeof sqlState === 'string' && /^(42|22|0A)/.test(sqlState)
  return new RowcastError(inQuery ? 'PG_BACKFILL_QUERY_FAILED' : 'PG_BACKFILL_FAILED', `snapshot of ${table} failed: ${errorMessage(error)}`, { retriable: !inQuery, cause: error })
}
