import type { Admin, Message, Producer, ProducerConfig, RecordMetadata, TopicMessages } from 'kafkajs'
import type { Batch, OutgoingMessage, SnapshotMark } from '../../core/changes.ts'
import type { DeliveredMessage, MessageSink, SinkEvents, SourceIdentity } from '../../core/contracts.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn, type Lsn } from '../../core/lsn.ts'
import { Backoff, RetryWait } from '../../core/retry.ts'
import { assembleRequest } from './assemble-request.ts'
import type { KafkaClient } from './client.ts'
import { translateKafkaError } from './errors.ts'
import { checkProgressSource, progressRecord, readProgress, TransactionalSend } from './exactly-once.ts'
import { loadKafkajs } from './kafkajs/patch.ts'
import { sumOf } from './message-size.ts'
import { BatchPreparer } from './prepare-batch.ts'
import { SendQueue, type QueueEntry, type RequestPart } from './send-queue.ts'
import { TopicMetadataCache } from './topic-metadata.ts'

export interface SinkLimits {
  /** In-flight bounds: past either, the source is paused until Kafka catches up to half. */
  maxInFlightMessages: number
  maxInFlightBytes: number
  /** One produce request carries at most this many messages / bytes (and each partition's part fits its topic's max.message.bytes). */
  maxRequestMessages: number
  maxRequestBytes: number
  /** A message larger than this, or than its topic's max.message.bytes allows, is a row error. */
  maxMessageBytes: number
  retryInitialMs: number
  retryMaxMs: number
}

export const DEFAULT_SINK_LIMITS: SinkLimits = {
  maxInFlightMessages: 4_000,
  maxInFlightBytes: 6 * 1024 * 1024,
  maxRequestMessages: 2_000,
  maxRequestBytes: 4 * 1024 * 1024,
  maxMessageBytes: 1_000_000,
  retryInitialMs: 200,
  retryMaxMs: 30_000,
}

export interface KafkaSinkOptions {
  kafka: KafkaClient
  limits: SinkLimits
  logger: Logger
  events: SinkEvents
  /** Exactly-once: transactional producer, progress records on progressTopic keyed progressKey. */
  exactlyOnce?: { transactionalId: string; progressTopic: string; progressKey: string; source?: SourceIdentity }
}

/** A request (with its metadata checks) unanswered this long makes the sync report itself degraded. */
const STALLED_REQUEST_MS = 5_000

/**
 * Opens a sink on its own producer and admin. Exactly-once reads the committed progress after the
 * transactional producer connected (that fences a killed predecessor and aborts its open transaction) and
 * resumes from it. What it opened is closed again when a later step fails.
 */
export async function openKafkaSink(options: KafkaSinkOptions): Promise<KafkaSink> {
  const { kafka, exactlyOnce, logger } = options
  const opened: { disconnect(): Promise<void> }[] = []
  try {
    const producer = kafka.producer(producerConfig(exactlyOnce?.transactionalId))
    await connect(producer)
    opened.push(producer)
    const admin = kafka.admin()
    await connect(admin)
    opened.push(admin)
    let transactional: TransactionalSend | null = null
    if (exactlyOnce !== undefined) {
      const { progressTopic, progressKey, source } = exactlyOnce
      const resume = await readProgress(kafka, progressTopic, progressKey)
      if (source !== undefined) checkProgressSource(resume, source, progressTopic, progressKey)
      if (resume.lsn > 0n) {
        const partial = resume.partial === null ? undefined : { txLsn: formatLsn(resume.partial.txLsn), messages: resume.partial.messages }
        logger.info({ through: formatLsn(resume.lsn), partial }, 'exactly-once: skipping what is already committed to Kafka')
      }
      transactional = new TransactionalSend(producer, { ...progressRecord(progressTopic, progressKey, source), resume }, logger)
    }
    return new KafkaSink({ producer, admin, limits: options.limits, events: options.events, logger, transactional })
  } catch (error) {
    for (const client of opened.reverse()) await client.disconnect().catch(() => undefined)
    throw error
  }
}

/**
 * The Kafka sink: the only place messages leave rowcast. Batches queue in stream order; one produce
 * request is in flight at a time (with the idempotent producer), so messages of a key reach their
 * partition in commit order, also across retries; a request spans many batches and partitions.
 * Before a batch is sent it is prepared (prepare-batch.ts): a missing topic holds the whole batch (and
 * everything after it) until it exists, retried with backoff. A request that fails is sent again exactly
 * as it was (same messages, same partitions, same order) until it succeeds: the idempotent producer gave
 * its batches sequence numbers, and a retry with other contents under them is refused by the broker
 * (OUT_OF_ORDER_SEQUENCE_NUMBER) if the first try was written but its answer lost.
 */
export class KafkaSink implements MessageSink {
  readonly #producer: Producer
  readonly #admin: Admin
  readonly #limits: SinkLimits
  readonly #events: SinkEvents
  readonly #logger: Logger
  readonly #queue: SendQueue
  readonly #preparer: BatchPreparer
  readonly #transactional: TransactionalSend | null
  #running: Promise<void> | null = null
  #stopped = false
  #failed = false
  #degraded = false
  readonly #retryWait = new RetryWait()
  /** The request being sent, kept as it is until it succeeds. */
  #frozen: { parts: RequestPart[]; topicMessages: TopicMessages[] } | null = null

  constructor(options: { producer: Producer; admin: Admin; limits: SinkLimits; events: SinkEvents; logger: Logger; transactional: TransactionalSend | null }) {
    this.#producer = options.producer
    this.#admin = options.admin
    this.#limits = options.limits
    this.#events = options.events
    this.#logger = options.logger
    this.#transactional = options.transactional
    this.#queue = new SendQueue(options.limits, options.events)
    this.#preparer = new BatchPreparer({ metadata: new TopicMetadataCache(options.admin, options.logger), maxMessageBytes: options.limits.maxMessageBytes, rowError: options.events.rowError })
  }

  enqueue(batch: Batch<OutgoingMessage>, ticket: number, txLsn: Lsn | null = null): void {
    if (this.#failed) return
    if (batch.items.length === 0) return
    this.#queue.push(batch, ticket, txLsn)
    this.#kick()
  }

  /** Exactly-once: the mark of the last snapshot row committed before this sink started (where a snapshot resumes). */
  get resumedSnapshot(): SnapshotMark | null {
    return this.#transactional?.resume.snapshot ?? null
  }

  get inFlight(): { messages: number; bytes: number } {
    return this.#queue.inFlight
  }

  async drain(): Promise<void> {
    while (this.#running !== null) await this.#running
  }

  /** Stops sending and retrying; queued messages stay unacknowledged (they will be re-read from the slot). */
  stop(): void {
    this.#stopped = true
    this.#retryWait.stop()
  }

  async close(): Promise<void> {
    this.stop()
    await Promise.all([this.#producer.disconnect().catch(() => undefined), this.#admin.disconnect().catch(() => undefined)])
  }

  #kick(): void {
    if (this.#running !== null || this.#stopped) return
    this.#running = this.#loop()
      .catch((error: unknown) => {
        this.#failed = true
        this.#events.fatal(error instanceof Error ? error : new Error(String(error)))
      })
      .finally(() => {
        this.#running = null
        if (this.#queue.entries.length > 0 && !this.#failed && !this.#stopped) this.#kick()
      })
  }

  async #loop(): Promise<void> {
    const backoff = new Backoff({ initialMs: this.#limits.retryInitialMs, maxMs: this.#limits.retryMaxMs })
    while (this.#queue.entries.length > 0 && !this.#stopped) {
      // kafkajs retries a lost broker inside one call for a long time: report degraded while it does.
      const stalled = setTimeout(() => this.#markDegraded(new RowcastError('KAFKA_UNREACHABLE', `Kafka has not acknowledged a request for ${STALLED_REQUEST_MS / 1000} s; retrying`)), STALLED_REQUEST_MS)
      let request: RequestPart[] = []
      try {
        if (this.#frozen === null) {
          await this.#prepareHead()
          const parts = assembleRequest(this.#queue.entries, this.#limits, (topic) => this.#preparer.batchLimit(topic))
          if (parts.length === 0) continue
          this.#frozen = { parts, topicMessages: topicMessagesOf(parts) }
        }
        request = this.#frozen.parts
        await this.#send(this.#frozen)
        this.#frozen = null
        backoff.reset()
        if (this.#degraded) {
          this.#degraded = false
          this.#events.degraded(null)
        }
      } catch (error) {
        if (this.#stopped) return // closing: what failed stays unacknowledged, and nothing is retried or reported
        const translated = error instanceof RowcastError ? error : translateKafkaError(error)
        // A failed transaction or a fenced producer is retriable for the sync (it restarts from the committed
        // progress, with a new producer), not here.
        if (!translated.retriable || translated.code === 'KAFKA_TRANSACTION_FAILED' || translated.code === 'KAFKA_PRODUCER_FENCED') throw translated
        this.#markDegraded(translated)
        if (this.#events.retrying !== undefined && request.length > 0) this.#events.retrying(withPartitions(request), translated)
        const delay = backoff.next()
        this.#logger.warn({ code: translated.code, retryInMs: delay }, `Kafka: ${translated.message}; retrying`)
        await this.#retryWait.sleep(delay)
      } finally {
        clearTimeout(stalled)
      }
    }
  }

  #markDegraded(error: RowcastError): void {
    if (this.#degraded || this.#stopped) return
    this.#degraded = true
    this.#events.degraded(error)
  }

  /**
   * Prepares the batches the next request can take (prepare-batch.ts); exactly-once then settles, without
   * sending, the messages an earlier run already committed.
   */
  async #prepareHead(): Promise<void> {
    // Chosen first, prepared after: preparing may settle (and shift out of the queue) an entry.
    const unprepared: QueueEntry[] = []
    let budget = this.#limits.maxRequestMessages
    for (const entry of this.#queue.entries) {
      if (budget <= 0) break
      budget -= entry.messages.length - entry.next
      if (!entry.prepared) unprepared.push(entry)
    }
    for (const entry of unprepared) {
      this.#queue.prepared(entry, await this.#preparer.prepare(entry.messages, entry.sizes))
      if (this.#transactional === null) continue
      const skip = this.#transactional.skipCommitted(entry)
      if (skip === 0) continue
      entry.next = skip
      this.#queue.settle(entry, skip, sumOf(entry.sizes, 0, skip))
    }
  }

  async #send({ parts, topicMessages }: { parts: RequestPart[]; topicMessages: TopicMessages[] }): Promise<void> {
    const started = Date.now()
    const metadata = this.#transactional === null ? await this.#producer.sendBatch({ topicMessages, acks: -1 }) : await this.#transactional.send(topicMessages, parts)
    const latency = Date.now() - started
    const delivered = offsetsOf(parts, metadata)
    for (const { entry, from, to } of parts) {
      entry.next = to
      this.#queue.settle(entry, to - from, sumOf(entry.sizes, from, to))
    }
    this.#events.delivered(delivered, latency)
  }

}

/** A request's messages by topic, as kafkajs takes them, each with its partition. */
function topicMessagesOf(parts: readonly RequestPart[]): TopicMessages[] {
  const byTopic = new Map<string, Message[]>()
  for (const { entry, from, to } of parts) {
    for (let i = from; i < to; i++) {
      const m = entry.messages[i]
      let list = byTopic.get(m.topic)
      if (list === undefined) byTopic.set(m.topic, (list = []))
      list.push({ key: m.key, value: m.value, partition: entry.partitions[i], headers: m.headers ?? undefined })
    }
  }
  return [...byTopic].map(([topic, messages]) => ({ topic, messages }))
}

/**
 * Every message carries its partition (resolved by batch preparation, Java-compatible); naming the
 * partitioner also silences kafkajs' warning about its v2 default.
 */
function producerConfig(transactionalId?: string): ProducerConfig {
  return {
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: loadKafkajs().Partitioners.DefaultPartitioner,
    // kafkajs warns that limited retries may break idempotence: true of a caller that then sends something
    // else. The sink's loop sends the very same request again, for as long as it takes; a few retries here
    // keep each call short, so the sync reports Kafka's outage and stops promptly.
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 5_000 },
    ...(transactionalId === undefined ? {} : { transactionalId, transactionTimeout: 60_000 }),
  }
}

async function connect(client: Producer | Admin): Promise<void> {
  try {
    await client.connect()
  } catch (error) {
    throw new RowcastError('KAFKA_UNREACHABLE', `cannot connect to Kafka: ${errorMessage(error)}`, { cause: error })
  }
}

/** A failed request's messages for the debugger: copies that show the partition each was sent to. */
function withPartitions(parts: readonly RequestPart[]): OutgoingMessage[] {
  const messages: OutgoingMessage[] = []
  for (const { entry, from, to } of parts) {
    for (let i = from; i < to; i++) messages.push({ ...entry.messages[i], partition: entry.partitions[i] })
  }
  return messages
}

/** Per-message offsets: a request's messages for one partition are consecutive from its baseOffset. */
function offsetsOf(parts: readonly RequestPart[], metadata: RecordMetadata[]): DeliveredMessage[] {
  const next = new Map<string, Map<number, number>>()
  for (const r of metadata) {
    if (r.baseOffset === undefined) continue
    let partitions = next.get(r.topicName)
    if (partitions === undefined) next.set(r.topicName, (partitions = new Map()))
    partitions.set(r.partition, Number(r.baseOffset))
  }
  const delivered: DeliveredMessage[] = []
  for (const { entry, from, to } of parts) {
    for (let i = from; i < to; i++) {
      const message = entry.messages[i]
      const partition = entry.partitions[i]
      const partitions = next.get(message.topic)
      const offset = partitions?.get(partition)
      if (offset !== undefined) partitions!.set(partition, offset + 1)
      delivered.push({ message, partition, offset: offset ?? -1, commitTime: entry.commitTime, bytes: entry.sizes[i] })
    }
  }
  return delivered
}
