/**
 * The rows of the next snapshot chunk. Fixed at `snapshot.chunkRows`; with `snapshot.chunkTimeMs`, adapted
 * after each chunk from the rate of the last read (rows per ms) toward that read time per chunk, by at most
 * a factor of 2 per chunk, and between a tenth and ten times `chunkRows` (1 to 1,000,000).
 */
export class ChunkSize {
  readonly #targetMs: number | undefined
  readonly #min: number
  readonly #max: number
  #rows: number

  constructor(chunkRows: number, chunkTimeMs?: number) {
    this.#rows = chunkRows
    this.#targetMs = chunkTimeMs
    this.#min = Math.max(1, Math.floor(chunkRows / 10))
    this.#max = Math.min(1_000_000, chunkRows * 10)
  }

  get rows(): number {
    return this.#rows
  }

  /** A chunk of `rows` rows was read in `readMs`. */
  observe(rows: number, readMs: number): void {
    if (this.#targetMs === undefined) return
    this.#rows = nextChunkRows(this.#rows, rows, readMs, this.#targetMs, this.#min, this.#max)
  }
}

/**
 * The next chunk's rows: the last read's rate times the target time, at most doubled or halved, within
 * [min, max]. A read with no rows or no measurable time says nothing about the rate: the size stays.
 */
export function nextChunkRows(current: number, rowsRead: number, readMs: number, targetMs: number, min: number, max: number): number {
  if (rowsRead <= 0 || readMs <= 0) return current
  const wanted = (rowsRead / readMs) * targetMs
  const stepped = Math.min(current * 2, Math.max(current / 2, wanted))
  return Math.round(Math.min(max, Math.max(min, stepped)))
}
