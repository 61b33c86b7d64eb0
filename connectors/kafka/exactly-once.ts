import type { Producer, RecordMetadata, TopicMessages, Transaction } from 'kafkajs'
import { parseLsn, formatLsn, type Lsn } from '../../core/lsn.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { SourceIdentity } from '../../core/contracts.ts'
import type { OutgoingMessage, SnapshotMark } from '../../core/changes.ts'
import type { KafkaClient } from './client.ts'
import { translateKafkaError } from './errors.ts'
import type { QueueEntry, RequestPart } from './send-queue.ts'

/**
 * Exactly-once position of a sync, committed in the same Kafka transaction as the messages it covers:
 * every source transaction whose commit ends at or before `lsn` is in Kafka, and of the transaction that
 * commits at `partial.txLsn` (a large one split across Kafka transactions) the first `partial.messages`;
 * and the mark of the last snapshot row committed (where a backfill or resync resumes: after its key).
 */
export interface DeliveryProgress {
  lsn: Lsn
  partial: { txLsn: Lsn; messages: number } | null
  /** The last snapshot row in Kafka (absent when no snapshot sent any, and in records of earlier versions). */
  snapshot?: SnapshotMark
  /** The source whose positions these are (absent in records of earlier versions). */
  source?: SourceIdentity
}

export const NO_PROGRESS: DeliveryProgress = Object.freeze({ lsn: 0n, partial: null })

/** How long readProgress waits for the log's end (an open transaction of another sync can hold it). */
const READ_TIMEOUT_MS = 30_000

/**
 * Exactly-once: every request is one Kafka transaction that also writes the progress record: the source
 * transactions it completes and, when it ends inside one, how many of that transaction's messages are in.
 */
export interface TransactionalProgress {
  topic: string
  key: string
  encode(progress: DeliveryProgress): string
  /** The progress committed before this sink started: what it skips instead of sending again. */
  resume?: DeliveryProgress
}

/** The progress record of `sync`: a compacted topic keyed by sync name (within a namespace), naming its source. */
export function progressRecord(topic: string, key: string, source?: SourceIdentity): TransactionalProgress {
  const named = source === undefined ? undefined : { systemId: source.systemId, database: source.database, slot: source.slot }
  return { topic, key, encode: (progress) => encodeProgress(key, { ...progress, ...(named === undefined ? {} : { source: named }) }) }
}

export function encodeProgress(sync: string, { lsn, partial, source, snapshot }: DeliveryProgress): string {
  return JSON.stringify({
    sync,
    ...(source === undefined ? {} : { source }),
    lsn: formatLsn(lsn),
    ...(partial === null ? {} : { partial: { txLsn: formatLsn(partial.txLsn), messages: partial.messages } }),
    ...(snapshot === undefined ? {} : { snapshot: { run: snapshot.run, after: snapshot.key, rows: snapshot.rows } }),
    at: new Date().toISOString(),
  })
}

export function decodeProgress(value: string): DeliveryProgress {
  const parsed = JSON.parse(value) as { lsn: string; partial?: { txLsn: string; messages: number }; source?: SourceIdentity; snapshot?: { run: string; after: string[]; rows: number } }
  return {
    lsn: parseLsn(parsed.lsn),
    partial: parsed.partial === undefined ? null : { txLsn: parseLsn(parsed.partial.txLsn), messages: parsed.partial.messages },
    ...(parsed.source === undefined ? {} : { source: parsed.source }),
    ...(parsed.snapshot === undefined ? {} : { snapshot: { run: parsed.snapshot.run, key: parsed.snapshot.after, rows: parsed.snapshot.rows } }),
  }
}

/**
 * Progress written for another source (another deployment with the same sync name on this cluster, or a
 * database replaced under the same URL) says nothing about this one: skipping by it would lose changes.
 * Records of earlier versions name no source and are taken as this one's.
 */
export function checkProgressSource(progress: DeliveryProgress, source: SourceIdentity, topic: string, key: string): void {
  const recorded = progress.source
  const slot = recorded?.slot === source.slot || (recorded !== undefined && (source.formerSlots ?? []).includes(recorded.slot))
  if (recorded === undefined || (recorded.systemId === source.systemId && recorded.database === source.database && slot)) return
  const describe = (s: SourceIdentity) => `system ${s.systemId}, database "${s.database}", slot "${s.slot}"`
  throw new RowcastError(
    'KAFKA_PROGRESS_FOREIGN',
    `exactly-once progress "${key}" on topic "${topic}" was written by another source (${describe(recorded)}); this sync streams from ${describe(source)}. ` +
      'Two deployments share this sync name on one Kafka cluster, or the database was replaced: give each deployment its own destination.exactlyOnce.namespace',
  )
}

/**
 * Reads the newest committed progress of `sync` (read_committed). Exact: it reads until the consumer has
 * passed every offset below the end the admin reported, counting batches that hold only transaction
 * markers or aborted records (kafkajs reports those through END_BATCH_PROCESS, not eachMessage). Call it
 * after the sync's transactional producer connected: that fences a killed predecessor and aborts its
 * open transaction, so the end is not held by it.
 */
export async function readProgress(kafka: KafkaClient, topic: string, sync: string): Promise<DeliveryProgress> {
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

/**
 * The transactional send of an exactly-once sink, and its resume: each request is one Kafka transaction
 * holding the messages and the progress they complete; what an earlier run committed is skipped.
 */
export class TransactionalSend {
  readonly #producer: Producer
  readonly #progress: TransactionalProgress
  readonly #logger: Logger
  readonly #resume: DeliveryProgress
  /** What the last committed Kafka transaction recorded. */
  #committed: DeliveryProgress
  /** The source transaction the last entry left open, and how many of its messages came before. */
  #txCursor: { txLsn: Lsn; messages: number } | null = null

  constructor(producer: Producer, progress: TransactionalProgress, logger: Logger) {
    this.#producer = producer
    this.#progress = progress
    this.#logger = logger
    this.#resume = progress.resume ?? NO_PROGRESS
    this.#committed = this.#resume
  }

  /** The progress committed before this sink started (its snapshot mark tells the source where a snapshot resumes). */
  get resume(): DeliveryProgress {
    return this.#resume
  }

  /**
   * Numbers a prepared entry's messages within its source transaction (entries come in stream order) and
   * says how many leading ones an earlier run already committed: those are settled, not sent again.
   */
  skipCommitted(entry: QueueEntry): number {
    if (entry.txLsn === null) return 0
    const cursor = this.#txCursor
    entry.txOffset = cursor !== null && cursor.txLsn === entry.txLsn ? cursor.messages : 0
    this.#txCursor = entry.commitLsn === null ? { txLsn: entry.txLsn, messages: entry.txOffset + entry.messages.length } : null
    return skipCount(entry.txLsn, entry.txOffset, entry.messages.length, this.#resume)
  }

  /** Sends one request as one Kafka transaction, with the progress it completes. A failure is never retried here. */
  async send(topicMessages: TopicMessages[], parts: readonly RequestPart[]): Promise<RecordMetadata[]> {
    const progress = this.#progress
    const next = progressAfter(this.#committed, parts)
    let transaction: Transaction | null = null
    try {
      transaction = await this.#producer.transaction()
      const records = next === null ? topicMessages : [...topicMessages, { topic: progress.topic, messages: [{ key: progress.key, value: progress.encode(next) }] }]
      const metadata = await transaction.sendBatch({ topicMessages: records, acks: -1 })
      await transaction.commit()
      if (next !== null) this.#committed = next
      return metadata
    } catch (error) {
      await transaction?.abort().catch((abortError: unknown) => this.#logger.warn({ error: errorMessage(abortError) }, 'Kafka transaction abort failed'))
      // Whether a failed commit landed is unknown, and kafkajs's transaction state may be stuck: never retry
      // here. The sync restarts: a new producer fences this one, and the committed progress says where to go on.
      const translated = translateKafkaError(error)
      if (!translated.retriable) throw translated
      throw new RowcastError('KAFKA_TRANSACTION_FAILED', `Kafka transaction failed (${translated.message}); restarting from the committed progress`, { cause: error })
    }
  }
}

/**
 * The progress a request commits (null when it changes nothing): the highest commit LSN among the source
 * transactions it completes, the transaction it stops inside, if any, and the mark of its last snapshot row
 * (snapshot rows come in key order; each batch of them is a snapshot's only). Every record carries the
 * current mark on: the compacted topic keeps only the last record.
 */
export function progressAfter(previous: DeliveryProgress, parts: readonly { entry: Pick<QueueEntry, 'messages' | 'commitLsn' | 'txLsn' | 'txOffset'>; to: number }[]): DeliveryProgress | null {
  let lsn = previous.lsn
  let partial = previous.partial
  let snapshot = previous.snapshot
  let changed = false
  for (const { entry, to } of parts) {
    const mark = to > 0 ? snapshotMarkOf(entry.messages[to - 1]) : undefined
    if (mark !== undefined) {
      snapshot = mark
      changed = true
    }
    if (to >= entry.messages.length && entry.commitLsn !== null) {
      if (entry.commitLsn > lsn) lsn = entry.commitLsn
      partial = null
      changed = true
    } else if (entry.txLsn !== null) {
      partial = { txLsn: entry.txLsn, messages: entry.txOffset + to }
      changed = true
    }
  }
  if (!changed) return null
  return snapshot === undefined ? { lsn, partial } : { lsn, partial, snapshot }
}

function snapshotMarkOf(message: OutgoingMessage | undefined): SnapshotMark | undefined {
  return message?.change.snapshot
}

/**
 * How many leading messages of an entry an earlier run already committed: all of a transaction that
 * commits before the progress LSN (its commit record starts before the end of the last one recorded),
 * the first `partial.messages` of the transaction recorded as partial, none of any other.
 */
export function skipCount(txLsn: Lsn, txOffset: number, messages: number, resume: DeliveryProgress): number {
  if (txLsn < resume.lsn) return messages
  if (resume.partial !== null && resume.partial.txLsn === txLsn) return Math.max(0, Math.min(messages, resume.partial.messages - txOffset))
  return 0
}
