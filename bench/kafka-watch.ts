/**
 * Kafka side of the benchmark: topics, watching a set of topics' end offsets until a message count is
 * reached (the time of the last ack, to within one poll), and a consumer that reads message timestamps.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs'

export const PARTITIONS = 3
const POLL_MS = 100

export function kafkaFor(brokers: string, clientId = 'rowcast-bench'): Kafka {
  return new Kafka({ clientId, brokers: [brokers], logLevel: logLevel.NOTHING })
}

export async function createTopics(admin: Admin, topics: string[], configEntries: { name: string; value: string }[] = []): Promise<void> {
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 1, configEntries })), waitForLeaders: true })
}

export async function deleteTopics(admin: Admin, topics: string[]): Promise<void> {
  if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined)
}

/** Messages in the topics: the sum of their partitions' end offsets (no transactions: no markers). */
export async function messageCount(admin: Admin, topics: readonly string[]): Promise<number> {
  let total = 0
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) total += Number(p.high) - Number(p.low)
  }
  return total
}

export interface WatchResult {
  /** performance.now() when the first message was seen, and when `expected` were. */
  firstAt: number
  doneAt: number
  count: number
}

/**
 * Polls the end offsets until `expected` messages are in the topics. `onTick(count)` runs at every poll
 * (footprint sampling, fault injection). Throws after `timeoutMs` without progress.
 */
export async function watchUntil(admin: Admin, topics: readonly string[], expected: number, options: { stallTimeoutMs?: number; onTick?: (count: number, now: number) => void; isAlive?: () => boolean } = {}): Promise<WatchResult> {
  const stallTimeoutMs = options.stallTimeoutMs ?? 60_000
  let firstAt = 0
  let lastCount = -1
  let lastProgress = performance.now()
  for (;;) {
    // A frozen or restarting broker makes the poll fail: that is no progress, not the end of the watch.
    const count = await messageCount(admin, topics).catch(() => Math.max(lastCount, 0))
    const now = performance.now()
    if (count > 0 && firstAt === 0) firstAt = now
    if (count !== lastCount) {
      lastCount = count
      lastProgress = now
    }
    options.onTick?.(count, now)
    if (count >= expected) return { firstAt, doneAt: now, count }
    if (options.isAlive !== undefined && !options.isAlive()) throw new Error(`rowcast exited with ${count}/${expected} messages delivered`)
    if (now - lastProgress > stallTimeoutMs) throw new Error(`no progress for ${stallTimeoutMs / 1000} s at ${count}/${expected} messages`)
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}

/** Reads every message of `topic` from the beginning; `onMessage(value, timestampMs)`. */
export async function consumeTimestamps(kafka: Kafka, topic: string, groupId: string, onMessage: (value: string, timestampMs: number) => void): Promise<{ stop(): Promise<void> }> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50 })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    eachBatch: async ({ batch }) => {
      for (const message of batch.messages) onMessage(message.value?.toString() ?? '', Number(message.timestamp))
    },
  })
  return { stop: () => consumer.disconnect() }
}
