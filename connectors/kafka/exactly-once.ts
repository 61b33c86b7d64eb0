import type { Kafka } from 'kafkajs'
import { parseLsn, formatLsn } from '../../core/lsn.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { TransactionalProgress } from './sink.ts'

/**
 * Exactly-once position of a sync, committed in the same Kafka transaction as the messages it covers:
 * every source transaction whose commit ends at or before `lsn` is in Kafka, and of the transaction that
 * commits at `partial.txLsn` (a large one split across Kafka transactions) the first `partial.messages`.
 */
export interface DeliveryProgress {
  lsn: bigint
  partial: { txLsn: bigint; messages: number } | null
}

export const NO_PROGRESS: DeliveryProgress = Object.freeze({ lsn: 0n, partial: null })

/** How long readProgress waits for the log's end (an open transaction of another sync can hold it). */
const READ_TIMEOUT_MS = 30_000

/** The progress record of `sync`: a compacted topic keyed by sync name. */
export function progressRecord(topic: string, sync: string): TransactionalProgress {
  return { topic, key: sync, encode: (progress) => encodeProgress(sync, progress) }
}

export function encodeProgress(sync: string, { lsn, partial }: DeliveryProgress): string {
  return JSON.stringify({
    sync,
    lsn: formatLsn(lsn),
    ...(partial === null ? {} : { partial: { txLsn: formatLsn(partial.txLsn), messages: partial.messages } }),
    at: new Date().toISOString(),
  })
}

export function decodeProgress(value: string): DeliveryProgress {
  const parsed = JSON.parse(value) as { lsn: string; partial?: { txLsn: string; messages: number } }
  return {
    lsn: parseLsn(parsed.lsn),
    partial: parsed.partial === undefined ? null : { txLsn: parseLsn(parsed.partial.txLsn), messages: parsed.partial.messages },
  }
}

/**
 * Reads the newest committed progress of `sync` (read_committed). Exact: it reads until the consumer has
 * passed every offset below the end the admin reported, counting batches that hold only transaction
 * markers or aborted records (kafkajs reports those through END_BATCH_PROCESS, not eachMessage). Call it
 * after the sync's transactional producer connected: that fences a killed predecessor and aborts its
 * open transaction, so the end is not held by it.
 */
export async function readProgress(kafka: Kafka, topic: string, sync: string): Promise<DeliveryProgress> {
  const admin = kafka.admin()
  await admin.connect()
  let offsets: { partition: number; high: string; low: string }[]
  try {
    offsets = await admin.fetchTopicOffsets(topic).catch((error: unknown) => {
      throw new RowcastError('KAFKA_TOPIC_MISSING', `exactly-once needs the progress topic "${topic}" (compacted, 1 partition): ${errorMessage(error)}`, { cause: error })
    })
  } finally {
    await admin.disconnect()
  }
  const ends = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]))
  if (ends.size === 0) return NO_PROGRESS
  const consumer = kafka.consumer({ groupId: `rowcast-progress-${sync}-${process.pid}-${Date.now()}`, readUncommitted: false })
  await consumer.connect()
  let latest: DeliveryProgress = NO_PROGRESS
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const reached = new Map<number, bigint>()
      const check = () => {
        if ([...ends].every(([p, end]) => (reached.get(p) ?? -1n) >= end - 1n)) {
          clearTimeout(timer)
          resolve()
        }
      }
      const timer = setTimeout(() => reject(new RowcastError('KAFKA_PROGRESS_TIMEOUT', `could not read the progress topic "${topic}" to its end within ${READ_TIMEOUT_MS / 1000} s`)), READ_TIMEOUT_MS)
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        if (payload.topic !== topic) return
        const last = BigInt(payload.lastOffset)
        if (last > (reached.get(payload.partition) ?? -1n)) reached.set(payload.partition, last)
        check()
      })
      consumer
        .run({
          eachMessage: async ({ message }) => {
            if (message.key?.toString() !== sync || message.value === null) return
            const progress = decodeProgress(message.value.toString())
            if (progress.lsn >= latest.lsn) latest = progress // log order within the (one) partition: newest last
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return latest
}
