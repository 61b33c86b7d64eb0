import type { OutgoingMessage } from '../../core/changes.ts'

/** A message's size in bytes as the in-flight and request limits count it: value, key, header names and values. */
export function messageSize(message: OutgoingMessage): number {
  let bytes = typeof message.value === 'string' ? Buffer.byteLength(message.value) : message.value.length
  if (message.key !== null) bytes += Buffer.byteLength(message.key)
  if (message.headers !== null) for (const [k, v] of Object.entries(message.headers)) bytes += Buffer.byteLength(k) + Buffer.byteLength(v)
  return bytes
}

/** The sum of `sizes[from..to)`. */
export function sumOf(sizes: readonly number[], from = 0, to = sizes.length): number {
  let total = 0
  for (let i = from; i < to; i++) total += sizes[i]
  return total
}

/** Kafka's default `max.message.bytes` (broker message.max.bytes), assumed when a topic's config cannot be read. */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588

/**
 * A record batch's own bytes (v2 format): offset, length, leader epoch, magic, CRC, attributes, last offset
 * delta, two timestamps, producer id and epoch, base sequence, record count. Kafka checks a topic's
 * max.message.bytes against the whole batch, this included.
 */
export const RECORD_BATCH_OVERHEAD = 61
/** A record's framing at most: length, attributes, timestamp and offset deltas, key and value lengths, header count (varints). */
const RECORD_OVERHEAD = 40
/** A header's two length varints at most. */
const HEADER_OVERHEAD = 10

/** The bytes a message of `size` (messageSize) takes in a record batch, at most. */
export function recordBytes(message: OutgoingMessage, size: number): number {
  if (message.headers === null) return size + RECORD_OVERHEAD
  let headers = 0
  for (const _name in message.headers) headers++
  return size + RECORD_OVERHEAD + headers * HEADER_OVERHEAD
}
