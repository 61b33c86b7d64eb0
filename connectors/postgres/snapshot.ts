import { Observable } from 'rxjs'
import pg from 'pg'
import type { Batch, SourceChange } from '../../core/changes.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { ColumnInfo, Row } from '../../core/changes.ts'
import { ident } from './identifiers.ts'
import { parserForColumn } from './values.ts'
import { sessionConfig } from './session.ts'

export interface SnapshotOptions {
  connectionString: string
  table: string
  columns: readonly ColumnInfo[]
  filter: string | null
  /** The snapshot exported with the slot; null reads the current state (a plain, consistent read). */
  snapshot: string | null
  batchRows: number
  /** Resolves when the sink has room: the next rows are only fetched then, so memory stays bounded. */
  capacity: () => Promise<void>
  onProgress: (done: number, total: number) => void
  /** Called once the snapshot is imported (the slot's exporting connection may close). */
  onSnapshotImported?: () => void
}

/**
 * The snapshot half of the source: every row of the model as an `insert`, read through a cursor in the
 * slot's exported snapshot, fetched batch by batch only as fast as Kafka takes them.
 */
export function snapshot(options: SnapshotOptions): Observable<Batch<SourceChange>> {
  return new Observable<Batch<SourceChange>>((subscriber) => {
    const client = new pg.Client(sessionConfig(options.connectionString))
    let cancelled = false
    const raw = { getTypeParser: () => (text: string) => text } // values stay text: our parsers decode them
    const parsers = options.columns.map((c) => [c.name, parserForColumn(c)] as const)
    const run = async () => {
      await client.connect()
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      if (options.snapshot !== null) await client.query(`SET TRANSACTION SNAPSHOT '${options.snapshot.replace(/'/g, "''")}'`)
      options.onSnapshotImported?.()
      const where = options.filter === null ? '' : ` WHERE (${options.filter})`
      const total = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${options.table}${where}`)).rows[0].n)
      const columns = options.columns.map((c) => ident(c.name)).join(', ')
      await client.query(`DECLARE rowcast_backfill NO SCROLL CURSOR FOR SELECT ${columns} FROM ${options.table}${where}`)
      let done = 0
      options.onProgress(0, total)
      const now = Date.now()
      while (!cancelled) {
        await options.capacity()
        const result = await client.query<Record<string, string | null>>({ text: `FETCH ${options.batchRows} FROM rowcast_backfill`, types: raw })
        if (result.rows.length === 0) break
        const items: SourceChange[] = result.rows.map((values) => {
          const row: Row = {}
          for (const [name, parse] of parsers) {
            const text = values[name]
            row[name] = text === null || text === undefined ? null : parse(text)
          }
          return { op: 'insert', table: options.table, row, previous: null, previousIsFull: false, lsn: '0/0' }
        })
        done += items.length
        if (!cancelled) subscriber.next({ items, commitLsn: null, commitTime: now, txId: 0 })
        options.onProgress(done, Math.max(total, done))
      }
      await client.query('COMMIT')
      if (!cancelled) subscriber.complete()
    }
    run()
      .catch((error: unknown) => {
        if (!cancelled) subscriber.error(translateBackfillError(error, options.table))
      })
      .finally(() => void client.end().catch(() => undefined))
    return () => {
      // Unsubscribed (stop, failure, resync): end the read now; a pending capacity wait or FETCH is abandoned.
      cancelled = true
      void client.end().catch(() => undefined)
    }
  })
}

/** A broken connection or a lost snapshot is worth another attempt (from a new slot); an error in the query is not. */
function translateBackfillError(error: unknown, table: string): RowcastError {
  if (error instanceof RowcastError) return error
  const sqlState = (error as { code?: unknown }).code
  const inQuery = typeof sqlState === 'string' && /^(42|22|0A)/.test(sqlState)
  return new RowcastError(inQuery ? 'PG_BACKFILL_QUERY_FAILED' : 'PG_BACKFILL_FAILED', `backfill of ${table} failed: ${errorMessage(error)}`, { retriable: !inQuery, cause: error })
}
