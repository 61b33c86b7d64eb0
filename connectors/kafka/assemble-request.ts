import { RECORD_BATCH_OVERHEAD, recordBytes } from './message-size.ts'
import type { QueueEntry, RequestPart } from './send-queue.ts'

export interface RequestLimits {
  maxRequestMessages: number
  maxRequestBytes: number
}

/**
 * The next produce request: the queue's prepared messages from the head, in order, up to the request
 * limits and so that no partition's record batch outgrows its topic's `max.message.bytes` (`batchLimit`):
 * kafkajs puts a request's messages of one partition into one record batch, and Kafka refuses a batch over
 * the limit as a whole (MESSAGE_TOO_LARGE, not retriable). The first message always goes: preparation made
 * every message fit a batch of its own.
 */
export function assembleRequest(entries: readonly QueueEntry[], limits: RequestLimits, batchLimit: (topic: string) => number): RequestPart[] {
  const parts: RequestPart[] = []
  const batches = new BatchBytes(batchLimit)
  let count = 0
  let bytes = 0
  for (const entry of entries) {
    if (!entry.prepared) break
    let to = entry.next
    while (to < entry.messages.length && count < limits.maxRequestMessages && bytes < limits.maxRequestBytes) {
      const message = entry.messages[to]
      if (!batches.add(message.topic, entry.partitions[to], recordBytes(message, entry.sizes[to]))) break
      bytes += entry.sizes[to]
      to++
      count++
    }
    if (to > entry.next) parts.push({ entry, from: entry.next, to })
    if (to < entry.messages.length) break
  }
  return parts
}

/** The bytes of each partition's record batch in a request being assembled. */
class BatchBytes {
  readonly #limit: (topic: string) => number
  readonly #topics = new Map<string, { limit: number; partitions: number[] }>()
  #lastTopic = ''
  #last: { limit: number; partitions: number[] } | undefined

  constructor(limit: (topic: string) => number) {
    this.#limit = limit
  }

  /** Adds a record to its partition's batch unless that would take the batch over its topic's limit (an empty batch takes any). */
  add(topic: string, partition: number, record: number): boolean {
    let batches = this.#lastTopic === topic ? this.#last : this.#topics.get(topic)
    if (batches === undefined) this.#topics.set(topic, (batches = { limit: this.#limit(topic), partitions: [] }))
    this.#lastTopic = topic
    this.#last = batches
    const current = batches.partitions[partition] ?? 0
    if (current === 0) {
      batches.partitions[partition] = RECORD_BATCH_OVERHEAD + record
      return true
    }
    if (current + record > batches.limit) return false
    batches.partitions[partition] = current + record
    return true
  }
}
