import type pg from 'pg'
import type { ColumnInfo } from '../../core/changes.ts'
import type { ChunkSize } from './chunk-size.ts'
import { ident } from './identifiers.ts'
import type { ReadChunk } from './watermark-merge.ts'

/** One chunk to read: its query, and where the snapshot stands once it is delivered. */
export interface PlannedChunk {
  seq: number
  /** The read (the model's columns, filter and the chunk's bounds); values stay text. */
  text: string
  values: string[]
  /** Rows asked for (LIMIT), or null when the chunk is bounded on both sides. */
  limit: number | null
  /** Where the chunk starts (the last delivered position; null: the table's start). */
  after: string[] | null
  /** Where the next chunk starts, known up front (an upper key or the next page); null: the last row's key. */
  end: string[] | null
  /** No chunk after this one; null: decided by the read (fewer rows than the limit). */
  last: boolean | null
  /** Pages the chunk covers (page ranges only). */
  pages?: number
}

/** Hands out the chunks of one snapshot run, in order (`seq` from 0), to one or several readers. */
export interface ChunkPlan {
  /** The next chunk, null once every chunk is handed out. Calls are served one at a time. */
  next(): Promise<PlannedChunk | null>
  /** A chunk was read (its rows, in `readMs`): the next chunk's size, and where it starts when that depends on it. */
  read(planned: PlannedChunk, chunk: ReadChunk, readMs: number): void
}

export interface PlanTable {
  table: string
  columns: readonly ColumnInfo[]
  keyColumns: readonly string[]
  filter: string | null
}

/**
 * Key ranges in key order. One reader: `(key) > (last) ORDER BY key LIMIT n`, each chunk starting after the
 * last key the previous one read. Several readers: the planner first finds each chunk's upper key (the n-th
 * key after the lower one, an index-only walk on the key's index), so chunks `(lower, upper]` are read
 * concurrently; the last chunk has no upper key.
 */
export class KeyRangePlan implements ChunkPlan {
  readonly #client: pg.ClientBase
  readonly #size: ChunkSize
  readonly #bounded: boolean
  readonly #sql: { select: string; keys: string; key: string; where: string; cast: (offset: number) => string }
  #after: string[] | null
  #seq = 0
  #done = false
  #served: Promise<unknown> = Promise.resolve()
  /** One reader: the next chunk starts after the previous one's last key, known once it is read. */
  #previousRead: Promise<void> = Promise.resolve()
  #readDone: () => void = () => undefined

  constructor(client: pg.ClientBase, table: PlanTable, size: ChunkSize, after: string[] | null, bounded: boolean) {
    this.#client = client
    this.#size = size
    this.#bounded = bounded
    this.#after = after
    const types = new Map(table.columns.map((c) => [c.name, c.typeName]))
    this.#sql = {
      select: `SELECT ${table.columns.map((c) => ident(c.name)).join(', ')} FROM ${table.table}`,
      keys: `SELECT ${table.keyColumns.map(ident).join(', ')} FROM ${table.table}`,
      key: table.keyColumns.map(ident).join(', '),
      where: table.filter === null ? '' : `(${table.filter})`,
      cast: (offset) => `(${table.keyColumns.map((c, i) => `$${offset + i + 1}::${ident(types.get(c) ?? 'text')}`).join(', ')})`,
    }
  }

  next(): Promise<PlannedChunk | null> {
    const served = this.#served.then(() => this.#plan())
    this.#served = served.catch(() => undefined)
    return served
  }

  read(planned: PlannedChunk, chunk: ReadChunk, readMs: number): void {
    this.#size.observe(chunk.rows.length, readMs)
    if (this.#bounded) return
    if (chunk.last) this.#done = true
    else this.#after = chunk.end
    this.#readDone()
  }

  async #plan(): Promise<PlannedChunk | null> {
    await this.#previousRead
    if (this.#done) return null
    const seq = this.#seq++
    const after = this.#after
    const limit = this.#size.rows
    const { select, keys, key, where, cast } = this.#sql
    const lower = after === null ? [] : [`(${key}) > ${cast(0)}`]
    if (!this.#bounded) {
      this.#previousRead = new Promise((resolve) => (this.#readDone = resolve))
      return { seq, text: `${select}${clause([where, ...lower])} ORDER BY ${key} LIMIT ${limit}`, values: after ?? [], limit, after, end: null, last: null }
    }
    const raw = { getTypeParser: () => (text: string) => text }
    const boundary = await this.#client.query<string[]>({
      text: `${keys}${clause([where, ...lower])} ORDER BY ${key} OFFSET ${limit - 1} LIMIT 1`,
      values: after ?? [], types: raw, rowMode: 'array',
    })
    const upper = boundary.rows[0]
    if (upper === undefined) {
      this.#done = true
      return { seq, text: `${select}${clause([where, ...lower])} ORDER BY ${key}`, values: after ?? [], limit: null, after, end: null, last: true }
    }
    this.#after = upper
    const bound = `(${key}) <= ${cast(after?.length ?? 0)}`
    return { seq, text: `${select}${clause([where, ...lower, bound])} ORDER BY ${key}`, values: [...(after ?? []), ...upper], limit: null, after, end: upper, last: false }
  }
}

/**
 * Page ranges of a table without a key: `ctid >= '(p,0)' AND ctid < '(q,0)'` (a TID range scan, PostgreSQL
 * 14+), from the first page to the table's last page when the run starts (a row inserted later is the
 * stream's). Pages per chunk from the rows per page seen so far, so a chunk holds about `snapshot.chunkRows`
 * rows. The position is the first page not yet delivered, as a TID `(p,0)`.
 */
export class PageRangePlan implements ChunkPlan {
  readonly #size: ChunkSize
  readonly #select: string
  readonly #where: string
  readonly #endPage: number
  #page: number
  #rowsPerPage: number
  #seq = 0

  static async create(client: pg.ClientBase, table: PlanTable, size: ChunkSize, after: string[] | null, estimatedRows: number): Promise<PageRangePlan> {
    const pages = await client.query<{ pages: string }>("SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::text AS pages", [table.table])
    return new PageRangePlan(table, size, pageOf(after), Number(pages.rows[0]?.pages ?? 0), estimatedRows)
  }

  constructor(table: PlanTable, size: ChunkSize, firstPage: number, endPage: number, estimatedRows: number) {
    this.#size = size
    this.#select = `SELECT ${table.columns.map((c) => ident(c.name)).join(', ')} FROM ${table.table}`
    this.#where = table.filter === null ? '' : ` AND (${table.filter})`
    this.#page = firstPage
    this.#endPage = endPage
    this.#rowsPerPage = Math.max(1, estimatedRows / Math.max(1, endPage))
  }

  /** The table's last page when the run started (exclusive). */
  get endPage(): number {
    return this.#endPage
  }

  next(): Promise<PlannedChunk | null> {
    if (this.#page >= this.#endPage && this.#seq > 0) return Promise.resolve(null)
    const from = this.#page
    const to = from + Math.max(1, Math.round(this.#size.rows / this.#rowsPerPage))
    this.#page = to
    const last = to >= this.#endPage
    return Promise.resolve({
      seq: this.#seq++,
      text: `${this.#select} WHERE ctid >= $1::tid AND ctid < $2::tid${this.#where}`,
      values: [tid(from), tid(to)],
      limit: null, after: [tid(from)], end: [tid(to)], last, pages: to - from,
    })
  }

  read(planned: PlannedChunk, chunk: ReadChunk, readMs: number): void {
    this.#size.observe(chunk.rows.length, readMs)
    const pages = planned.pages ?? 1
    // A range the filter emptied says little: take the pages per chunk up (halve the rows per page), not down.
    this.#rowsPerPage = chunk.rows.length > 0 ? chunk.rows.length / pages : Math.max(0.01, this.#rowsPerPage / 2)
  }
}

/** The first page of a recorded position `(p,0)` (anything else, e.g. a key from before the table lost its key: page 0). */
export function pageOf(after: string[] | null): number {
  const match = after?.length === 1 ? /^\((\d+),0\)$/.exec(after[0]) : null
  return match === null || match === undefined ? 0 : Number(match[1])
}

function tid(page: number): string {
  return `(${page},0)`
}

function clause(parts: string[]): string {
  const present = parts.filter((p) => p !== '')
  return present.length === 0 ? '' : ` WHERE ${present.join(' AND ')}`
}
