import type { Kafka, Producer, Admin, Message, RecordMetadata, Transaction } from 'kafkajs'
import { Partitioners } from './kafkajs/patch.ts'
import type { Batch, OutgoingMessage, RejectedChange } from '../../core/changes.ts'
import type { ErrorCode } from '../../core/error-codes.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { translateKafkaError } from './errors.ts'
import { partitionForKey } from './partitioner.ts'
import { NO_PROGRESS, type DeliveryProgress } from './exactly-once.ts'
import { TopicMetadataCache } from './topic-metadata.ts'

export interface SinkLimits {
  /** In-flight bounds: past either, the source is paused until Kafka catches up to half. */
  maxInFlightMessages: number
  maxInFlightBytes: number
  /** One produce request carries at most this many messages / bytes. */
  maxRequestMessages: number
  maxRequestBytes: number
  /** A message larger than this is a row error (the broker's message.max.bytes is 1 MiB by default). */
  maxMessageBytes: number
  retryInitialMs: number
  retryMaxMs: number
}

/** Exactly-once: a failed Kafka transaction ends the sink (retriable: the sync restarts from the committed progress). */
const TRANSACTION_FAILED = 'KAFKA_TRANSACTION_FAILED'

/** A request (with its metadata checks) unanswered this long makes the sync report itself degraded. */
const STALLED_REQUEST_MS = 5_000

export const DEFAULT_SINK_LIMITS: SinkLimits = {
  maxInFlightMessages: 4_000,
  maxInFlightBytes: 6 * 1024 * 1024,
  maxRequestMessages: 2_000,
  maxRequestBytes: 4 * 1024 * 1024,
  maxMessageBytes: 1_000_000,
  retryInitialMs: 200,
  retryMaxMs: 30_000,
}

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

export interface SinkEvents {
  /** Messages of one batch acknowledged by Kafka (or dropped by the row-error policy). */
  acknowledged(ticket: number, count: number): void
  /** Backpressure: true when the in-flight bound is reached, false when below half of it again. */
  pressure(paused: boolean): void
  /** Applies onRowError to a message the cluster cannot take; returns the replacement or undefined, or throws. */
  rowError(rejected: RejectedChange): OutgoingMessage | undefined
  delivered(messages: readonly DeliveredMessage[], produceLatencyMs: number): void
  /** Retrying after a Kafka failure (first failure and recovery only, not every retry). */
  degraded(error: RowcastError | null): void
  /** A request failed and will be retried (for the live debugger; optional). */
  retrying?(messages: readonly OutgoingMessage[], error: RowcastError): void
  /** A non-retriable failure: the sync must stop without confirming anything further. */
  fatal(error: Error): void
}

export interface DeliveredMessage {
  message: OutgoingMessage
  partition: number
  /** Its offset in the partition; -1 when the broker did not say. A number: 2^53 offsets are out of reach. */
  offset: number
  commitTime: number
  bytes: number
}

interface Entry {
  ticket: number
  messages: OutgoingMessage[]
  next: number // index of the first message not yet handed to a request
  commitTime: number
  commitLsn: bigint | null
  /** The source transaction's commit LSN (from its BEGIN), on every chunk; null for backfill batches. */
  txLsn: bigint | null
  /** Messages of the same source transaction in earlier entries (exactly-once partial progress). */
  txOffset: number
  prepared: boolean
}

type Part = { entry: Entry; from: number; to: number }

/**
 * The Kafka sink: the only place messages leave rowcast. Batches queue in stream order; one produce
 * request is in flight at a time (with the idempotent producer), so messages of a key reach their
 * partition in commit order, also across retries; a request spans many batches and partitions.
 * Before a batch is sent, its topics must exist and its partitions be in range: a missing topic holds
 * the whole batch (and everything after it) until it exists, retried with backoff.
 */
export class KafkaSink {
  readonly #producer: Producer
  readonly #metadata: TopicMetadataCache
  readonly #limits: SinkLimits
  readonly #events: SinkEvents
  readonly #logger: Logger
  readonly #progress: TransactionalProgress | null
  readonly #queue: Entry[] = []
  readonly #roundRobin = new Map<string, number>()
  #inFlightMessages = 0
  #inFlightBytes = 0
  #paused = false
  #running: Promise<void> | null = null
  #stopped = false
  #failed = false
  #degraded = false
  #wake: (() => void) | null = null
  /** Exactly-once: what the last committed Kafka transaction recorded, and where it resumed from. */
  #committed: DeliveryProgress
  readonly #resume: DeliveryProgress
  #txCursor: { txLsn: bigint; messages: number } | null = null

  constructor(options: { producer: Producer; admin: Admin; limits: SinkLimits; events: SinkEvents; logger: Logger; progress?: TransactionalProgress }) {
    this.#producer = options.producer
    this.#metadata = new TopicMetadataCache(options.admin)
    this.#limits = options.limits
    this.#events = options.events
    this.#logger = options.logger
    this.#progress = options.progress ?? null
    this.#resume = options.progress?.resume ?? NO_PROGRESS
    this.#committed = this.#resume
  }

  static producerFor(kafka: Kafka, transactionalId?: string): Producer {
    return kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // Every message carries its partition (computed here, Java-compatible); naming the partitioner
      // also silences kafkajs' warning about its v2 default.
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 5_000 },
      ...(transactionalId === undefined ? {} : { transactionalId, transactionTimeout: 60_000 }),
    })
  }

  /**
   * Queues a batch's messages; `ticket` identifies it to the checkpoint. Synchronous: never waits.
   * `txLsn` (the source transaction's commit LSN, known from its BEGIN) lets exactly-once resume inside
   * a transaction that was split across Kafka transactions.
   */
  enqueue(batch: Batch<OutgoingMessage>, ticket: number, txLsn: bigint | null = null): void {
    if (this.#failed) return
    if (batch.items.length === 0) return
    const bytes = totalSize(batch.items)
    this.#queue.push({ ticket, messages: batch.items, next: 0, commitTime: batch.commitTime, commitLsn: batch.commitLsn, txLsn, txOffset: 0, prepared: false })
    this.#inFlightMessages += batch.items.length
    this.#inFlightBytes += bytes
    this.#updatePressure()
    this.#kick()
  }

  get inFlight(): { messages: number; bytes: number } {
    return { messages: this.#inFlightMessages, bytes: this.#inFlightBytes }
  }

  /** Resolves when everything queued has been acknowledged (or the sink failed or stopped). */
  async drain(): Promise<void> {
    while (this.#running !== null) await this.#running
  }

  /** Stops retrying; queued messages stay unacknowledged (they will be re-read from the slot). */
  stop(): void {
    this.#stopped = true
    this.#wake?.()
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
        if (this.#queue.length > 0 && !this.#failed && !this.#stopped) this.#kick()
      })
  }

  async #loop(): Promise<void> {
    let backoff = this.#limits.retryInitialMs
    while (this.#queue.length > 0 && !this.#stopped) {
      // kafkajs retries a lost broker inside one call for a long time: report degraded while it does.
      const stalled = setTimeout(() => this.#markDegraded(new RowcastError('KAFKA_UNREACHABLE', `Kafka has not acknowledged a request for ${STALLED_REQUEST_MS / 1000} s; retrying`)), STALLED_REQUEST_MS)
      let request: Part[] = []
      try {
        await this.#prepareHead()
        request = this.#nextRequest()
        if (request.length === 0) continue
        await this.#send(request)
        backoff = this.#limits.retryInitialMs
        if (this.#degraded) {
          this.#degraded = false
          this.#events.degraded(null)
        }
      } catch (error) {
        const translated = error instanceof RowcastError ? error : translateKafkaError(error)
        if (!translated.retriable || translated.code === TRANSACTION_FAILED) throw translated
        this.#markDegraded(translated)
        if (this.#events.retrying !== undefined && request.length > 0) {
          this.#events.retrying(request.flatMap(({ entry, from, to }) => entry.messages.slice(from, to)), translated)
        }
        this.#logger.warn({ code: translated.code, retryInMs: backoff }, `Kafka: ${translated.message}; retrying`)
        await this.#sleep(backoff)
        backoff = Math.min(backoff * 2, this.#limits.retryMaxMs)
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
   * Checks the batches at the head of the queue against the cluster: topics exist, partitions in range,
   * sizes under the limit. Row errors go through onRowError; a missing topic throws (retriable).
   */
  async #prepareHead(): Promise<void> {
    // Chosen first, prepared after: preparing may settle (and shift out of the queue) an entry.
    const unprepared: Entry[] = []
    let budget = this.#limits.maxRequestMessages
    for (const entry of this.#queue) {
      if (budget <= 0) break
      budget -= entry.messages.length - entry.next
      if (!entry.prepared) unprepared.push(entry)
    }
    for (const entry of unprepared) {
      // Checked in rounds: a replacement (dead letter) may name another topic, which must exist and be
      // known before the replacement itself is checked.
      const checked: (OutgoingMessage | undefined)[] = [...entry.messages]
      let pending = checked.map((_m, i) => i)
      while (pending.length > 0) {
        await this.#metadata.require(new Set(pending.map((i) => (checked[i] as OutgoingMessage).topic)))
        const replaced: number[] = []
        for (const i of pending) {
          const message = checked[i] as OutgoingMessage
          checked[i] = this.#check(message)
          if (checked[i] !== undefined && checked[i] !== message) replaced.push(i)
        }
        pending = replaced
      }
      const kept = checked.filter((m): m is OutgoingMessage => m !== undefined)
      const dropped = entry.messages.length - kept.length
      const droppedBytes = totalSize(entry.messages) - totalSize(kept)
      entry.messages = kept
      entry.prepared = true
      if (dropped > 0) this.#settle(entry, dropped, droppedBytes)
      if (this.#progress !== null) this.#skipCommitted(entry)
    }
  }

  /**
   * Exactly-once resume: numbers the entry's messages within its source transaction, and settles without
   * sending those an earlier run already committed (whole transactions up to the progress LSN, and the
   * first messages of a transaction that was split across Kafka transactions).
   */
  #skipCommitted(entry: Entry): void {
    if (entry.txLsn === null) return
    const cursor = this.#txCursor
    entry.txOffset = cursor !== null && cursor.txLsn === entry.txLsn ? cursor.messages : 0
    this.#txCursor = entry.commitLsn === null ? { txLsn: entry.txLsn, messages: entry.txOffset + entry.messages.length } : null
    const skip = skipCount(entry.txLsn, entry.txOffset, entry.messages.length, this.#resume)
    if (skip === 0) return
    entry.next = skip
    this.#settle(entry, skip, totalSize(entry.messages.slice(0, skip)))
  }

  /** Resolves the partition of a message, or applies the row-error policy (a replacement is checked by the caller). */
  #check(message: OutgoingMessage): OutgoingMessage | undefined {
    const partitions = this.#metadata.partitions(message.topic)
    const reject = (code: ErrorCode, reason: string, text: string) =>
      this.#events.rowError({ change: message.change, reason, error: new RowcastError(code, text) })
    if (message.partition !== null && (message.partition < 0 || message.partition >= partitions)) {
      return reject('ROW_PARTITION_MISSING', 'partition', `partition ${message.partition} does not exist in topic "${message.topic}" (it has ${partitions})`)
    }
    const bytes = sizeOf(message)
    if (bytes > this.#limits.maxMessageBytes && message.deadLetter === undefined) {
      return reject('ROW_MESSAGE_TOO_LARGE', 'too-large', `message of ${bytes} bytes is over the limit of ${this.#limits.maxMessageBytes} bytes`)
    }
    if (message.partition === null) {
      message.partition = message.key !== null ? partitionForKey(message.key, partitions) : this.#nextRoundRobin(message.topic, partitions)
    }
    return message
  }

  #nextRoundRobin(topic: string, partitions: number): number {
    const next = ((this.#roundRobin.get(topic) ?? -1) + 1) % partitions
    this.#roundRobin.set(topic, next)
    return next
  }

  /** Takes whole prepared batches (or part of a huge one) up to the request limits. */
  #nextRequest(): Part[] {
    const parts: Part[] = []
    let count = 0
    let bytes = 0
    for (const entry of this.#queue) {
      if (!entry.prepared) break
      let to = entry.next
      while (to < entry.messages.length && count < this.#limits.maxRequestMessages && bytes < this.#limits.maxRequestBytes) {
        bytes += sizeOf(entry.messages[to])
        to++
        count++
      }
      if (to > entry.next) parts.push({ entry, from: entry.next, to })
      if (to < entry.messages.length) break
    }
    return parts
  }

  async #send(parts: Part[]): Promise<void> {
    const byTopic = new Map<string, Message[]>()
    for (const { entry, from, to } of parts) {
      for (let i = from; i < to; i++) {
        const m = entry.messages[i]
        let list = byTopic.get(m.topic)
        if (list === undefined) byTopic.set(m.topic, (list = []))
        list.push({ key: m.key, value: m.value, partition: m.partition ?? undefined, headers: m.headers ?? undefined })
      }
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }))
    const started = Date.now()
    const metadata = this.#progress === null ? await this.#producer.sendBatch({ topicMessages, acks: -1 }) : await this.#sendTransaction(topicMessages, parts)
    const latency = Date.now() - started
    const delivered = offsetsOf(parts, metadata)
    for (const { entry, from, to } of parts) {
      entry.next = to
      this.#settle(entry, to - from, totalSize(entry.messages.slice(from, to)))
    }
    this.#events.delivered(delivered, latency)
  }

  async #sendTransaction(topicMessages: { topic: string; messages: Message[] }[], parts: Part[]): Promise<RecordMetadata[]> {
    const progress = this.#progress as TransactionalProgress
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
      throw new RowcastError(TRANSACTION_FAILED, `Kafka transaction failed (${translated.message}); restarting from the committed progress`, { retriable: true, cause: error })
    }
  }

  /** Marks `count` messages (`bytes` in all) of an entry done: in-flight shrinks, the checkpoint hears of it. */
  #settle(entry: Entry, count: number, bytes: number): void {
    while (this.#queue.length > 0 && this.#queue[0].prepared && this.#queue[0].next >= this.#queue[0].messages.length) this.#queue.shift()
    this.#inFlightMessages -= count
    this.#inFlightBytes -= bytes
    this.#updatePressure()
    this.#events.acknowledged(entry.ticket, count)
  }

  #updatePressure(): void {
    const over = this.#inFlightMessages >= this.#limits.maxInFlightMessages || this.#inFlightBytes >= this.#limits.maxInFlightBytes
    const under = this.#inFlightMessages <= this.#limits.maxInFlightMessages / 2 && this.#inFlightBytes <= this.#limits.maxInFlightBytes / 2
    if (!this.#paused && over) {
      this.#paused = true
      this.#events.pressure(true)
    } else if (this.#paused && under) {
      this.#paused = false
      this.#events.pressure(false)
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = null
        resolve()
      }, ms)
      this.#wake = () => {
        clearTimeout(timer)
        this.#wake = null
        resolve()
      }
    })
  }
}

function totalSize(messages: readonly OutgoingMessage[]): number {
  let bytes = 0
  for (const m of messages) bytes += sizeOf(m)
  return bytes
}

/** A message's size in bytes (value, key, headers), measured once: the sink asks for it several times. */
function sizeOf(message: OutgoingMessage): number {
  if (message.bytes !== undefined) return message.bytes
  let bytes = typeof message.value === 'string' ? Buffer.byteLength(message.value) : message.value.length
  if (message.key !== null) bytes += Buffer.byteLength(message.key)
  if (message.headers !== null) for (const [k, v] of Object.entries(message.headers)) bytes += k.length + Buffer.byteLength(v)
  message.bytes = bytes
  return bytes
}

/**
 * The progress a request commits (null when it changes nothing, e.g. backfill batches only): the highest
 * commit LSN among the source transactions it completes, and the transaction it stops inside, if any.
 */
export function progressAfter(previous: DeliveryProgress, parts: readonly { entry: Pick<Entry, 'messages' | 'commitLsn' | 'txLsn' | 'txOffset'>; to: number }[]): DeliveryProgress | null {
  let lsn = previous.lsn
  let partial = previous.partial
  let changed = false
  for (const { entry, to } of parts) {
    if (to >= entry.messages.length && entry.commitLsn !== null) {
      if (entry.commitLsn > lsn) lsn = entry.commitLsn
      partial = null
      changed = true
    } else if (entry.txLsn !== null) {
      partial = { txLsn: entry.txLsn, messages: entry.txOffset + to }
      changed = true
    }
  }
  return changed ? { lsn, partial } : null
}

/**
 * How many leading messages of an entry an earlier run already committed: all of a transaction that
 * commits before the progress LSN (its commit record starts before the end of the last one recorded),
 * the first `partial.messages` of the transaction recorded as partial, none of any other.
 */
export function skipCount(txLsn: bigint, txOffset: number, messages: number, resume: DeliveryProgress): number {
  if (txLsn < resume.lsn) return messages
  if (resume.partial !== null && resume.partial.txLsn === txLsn) return Math.max(0, Math.min(messages, resume.partial.messages - txOffset))
  return 0
}

/** Per-message offsets: a request's messages for one partition are consecutive from its baseOffset. */
function offsetsOf(parts: Part[], metadata: RecordMetadata[]): DeliveredMessage[] {
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
      const partition = message.partition ?? -1
      const partitions = next.get(message.topic)
      const offset = partitions?.get(partition)
      if (offset !== undefined) partitions!.set(partition, offset + 1)
      delivered.push({ message, partition, offset: offset ?? -1, commitTime: entry.commitTime, bytes: sizeOf(message) })
    }
  }
  return delivered
}
