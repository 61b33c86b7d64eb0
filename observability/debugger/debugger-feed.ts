import { z } from 'zod'
import type { DeliveryRecord, Telemetry } from '../../core/telemetry.ts'
import { BoundedBuffer } from './bounded-buffer.ts'
import { recordSize } from './record-size.ts'
import { redactRecord } from './redact-record.ts'

/** 4 MiB of records per sync: hundreds of ordinary rows, a few large ones. */
export const DEFAULT_BUFFER_BYTES = 4 * 1024 * 1024

export const debuggerConfigSchema = z
  .object({
    /** Columns masked wherever the debugger shows a row or a message. */
    redact: z.array(z.string().min(1)).default([]),
    /** Recent records kept per sync (the page loads them first, then streams). */
    bufferSize: z.number().int().min(1).max(100_000).default(500),
    /** Bytes of recent records kept per sync (an estimate: rows, messages, errors): large rows push old ones out sooner. */
    bufferBytes: z.number().int().min(65_536).default(DEFAULT_BUFFER_BYTES),
  })
  .strict()
export type DebuggerConfig = z.infer<typeof debuggerConfigSchema>

/** A record as the debugger shows it: redacted, with an id unique within the process. */
export type DebuggerRecord = DeliveryRecord & { id: number }

export interface DebuggerFeed {
  /** Buffered records of every sync, oldest first. */
  snapshot(): DebuggerRecord[]
  /** Live records from now on; returns the unsubscribe function. */
  subscribe(listener: (record: DebuggerRecord) => void): () => void
  close(): void
}

/**
 * Keeps the last `bufferSize` delivery records of each sync within `bufferBytes`, redacted, and fans new ones out to
 * live viewers (a record larger than `bufferBytes` is shown live only).
 * Listening to `record` makes the core build per-row records, so create the feed only when the debugger is on.
 * `config` is the validated `debugger` slice of the config. Secrets are scrubbed as registered (`core/secrets.ts`).
 */
export function createDebuggerFeed({ config, telemetry }: { config: Readonly<Omit<DebuggerConfig, 'bufferBytes'> & { bufferBytes?: number }>; telemetry: Telemetry }): DebuggerFeed {
  const { redact, bufferSize, bufferBytes = DEFAULT_BUFFER_BYTES } = config
  const columns = new Set(redact)
  const buffers = new Map<string, BoundedBuffer<Entry>>()
  const listeners = new Set<(record: DebuggerRecord) => void>()
  let nextId = 1

  // Redaction costs (tens of µs per row); it runs only when someone looks: at snapshot, or live while subscribed.
  // Once shown, the raw record is let go: an entry holds one copy of the row, as its size counted.
  const shown = (entry: Entry): DebuggerRecord => {
    if (entry.shown === undefined) {
      entry.shown = { ...redactRecord(entry.raw as DeliveryRecord, columns), id: entry.id }
      entry.raw = null
    }
    return entry.shown
  }

  const off = telemetry.on('record', (raw) => {
    const entry: Entry = { id: nextId++, raw }
    let buffer = buffers.get(raw.sync)
    if (!buffer) buffers.set(raw.sync, (buffer = new BoundedBuffer(bufferSize, bufferBytes)))
    buffer.push(entry, recordSize(raw))
    if (listeners.size === 0) return
    const record = shown(entry)
    for (const listener of listeners) listener(record)
  })

  return {
    snapshot: () => [...buffers.values()].flatMap((buffer) => buffer.toArray()).sort((a, b) => a.id - b.id).map(shown),
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close() {
      off()
      listeners.clear()
      buffers.clear()
    },
  }
}

interface Entry {
  id: number
  raw: DeliveryRecord | null
  shown?: DebuggerRecord
}
