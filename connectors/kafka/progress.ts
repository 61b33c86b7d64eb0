import type { Kafka } from 'kafkajs'
import { parseLsn, formatLsn } from '../postgres/lsn.ts'
import { RowcastError, errorMessage } from '../../pipeline/errors.ts'
import type { TransactionalProgress } from './sink.ts'

/**
 * Exactly-once progress: the last source commit LSN whose messages a Kafka transaction committed, stored
 * in a compacted topic keyed by sync name and written in the same transaction as the messages.
 */
export function progressRecord(topic: string, sync: string): TransactionalProgress {
  return { topic, key: sync, encode: (lsn) => JSON.stringify({ sync, lsn: formatLsn(lsn), at: new Date().toISOString() }) }
}

/** Reads the newest committed progress of `sync` (read_committed), or 0n when there is none. */
export async function readProgress(kafka: Kafka, topic: string, sync: string): Promise<bigint> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic).catch((error: unknown) => {
      throw new RowcastError('KAFKA_TOPIC_MISSING', `exactly-once needs the progress topic "${topic}" (compacted, 1 partition): ${errorMessage(error)}`, { retriable: true, cause: error })
    })
    const end = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0)
    if (end === 0) return 0n
    const consumer = kafka.consumer({ groupId: `rowcast-progress-${sync}-${process.pid}-${Date.now()}`, readUncommitted: false })
    await consumer.connect()
    let latest = 0n
    try {
      await consumer.subscribe({ topic, fromBeginning: true })
      const highs = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]))
      await new Promise<void>((resolve, reject) => {
        const seen = new Map<number, bigint>()
        const done = () => [...highs].every(([p, high]) => high === 0n || (seen.get(p) ?? -1n) >= high - 1n)
        const timer = setTimeout(resolve, 10_000) // control records (transaction markers) end the log without a message
        consumer
          .run({
            eachMessage: async ({ partition, message }) => {
              seen.set(partition, BigInt(message.offset))
              if (message.key?.toString() === sync && message.value !== null) {
                const lsn = parseLsn((JSON.parse(message.value.toString()) as { lsn: string }).lsn)
                if (lsn > latest) latest = lsn
              }
              if (done()) {
                clearTimeout(timer)
                resolve()
              }
            },
          })
          .catch(reject)
      })
    } finally {
      await consumer.disconnect()
    }
    return latest
  } finally {
    await admin.disconnect()
  }
}
