/**
 * An estimate of the memory a debugger record holds, in bytes, for the buffer's byte bound: string lengths,
 * buffer lengths, 8 per number, plus keys. Cheap (one walk over the row) and close enough to bound memory.
 */
export function recordSize(record: { row: Record<string, unknown> | null; message: string | null; error?: string; headers?: Record<string, string> }): number {
  return RECORD_OVERHEAD + valueSize(record.row) + (record.message?.length ?? 0) + (record.error?.length ?? 0) + valueSize(record.headers ?? null)
}

/** The fixed fields of a record (ids, type, table, topic, lsn, times) and the object headers. */
const RECORD_OVERHEAD = 256

function valueSize(value: unknown): number {
  if (value === null || value === undefined) return 0
  if (typeof value === 'string') return value.length
  if (typeof value !== 'object') return 8
  if (ArrayBuffer.isView(value)) return value.byteLength
  let size = 16
  if (Array.isArray(value)) for (const item of value) size += 8 + valueSize(item)
  else for (const [key, item] of Object.entries(value)) size += 8 + key.length + valueSize(item)
  return size
}
