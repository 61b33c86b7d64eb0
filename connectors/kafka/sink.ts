import type { Kafka, Producer, Admin, Message, RecordMetadata, Transaction } from 'kafkajs'
import type { Batch, OutgoingMessage, RejectedChange } from '../../pipeline/batch.ts'
import { RowcastError, errorMessage } from '../../pipeline/errors.ts'
import type { Logger } from '../../pipeline/logger.ts'
import { translateKafkaError } from './errors.ts'
import { partitionForKey } from './partitioner.ts'
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

export const DEFAULT_SINK_LIMITS: SinkLimits = {
  maxInFlightMessages: 20_000,
  maxInFlightBytes: 32 * 1024 * 1024,
  maxRequestMessages: 5_000,
  maxRequestBytes: 4 * 1024 * 1024,
  maxMessageBytes: 1_000_000,
  retryInitialMs: 200,
  retryMaxMs: 30_000,
}

/** Exactly-once: every request is one Kafka transaction that also writes the progress record. */
export interface TransactionalProgress {
  topic: string
  key: string
  /** The value to commit with a request whose completed batches confirm up to `lsn`. */
  encode(lsn: bigint): string
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
  /** A non-retriable failure: the sync must stop without confirming anything further. */
  fatal(error: Error): void
}

export interface DeliveredMessage {
  message: OutgoingMessage
  partition: number
  offset: string
  commitTime: number
  bytes: number
}

interface Entry {
  ticket: number
  messages: OutgoingMessage[]
  next: number // index of the first message not yet handed to a request
  commitTime: number
  commitLsn: bigint | null
  prepared: boolean
}

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

  constructor(options: { producer: Producer; admin: Admin; limits: SinkLimits; events: SinkEvents; logger: Logger; progress?: TransactionalProgress }) {
    this.#producer = options.producer
    this.#metadata = new TopicMetadataCache(options.admin)
    this.#limits = options.limits
    this.#events = options.events
    this.#logger = options.logger
    this.#progress = options.progress ?? null
  }

  static producerFor(kafka: Kafka, transactionalId?: string): Producer {
    return kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 5_000 },
      ...(transactionalId === undefined ? {} : { transactionalId, transactionTimeout: 60_000 }),
    })
  }

  /** Queues a batch's messages; `ticket` identifies it to the checkpoint. Synchronous: never waits. */
  enqueue(batch: Batch<OutgoingMessage>, ticket: number): void {
    if (this.#failed) return
    if (batch.items.length === 0) return
    const bytes = totalSize(batch.items)
    this.#queue.push({ ticket, messages: batch.items, next: 0, commitTime: batch.commitTime, commitLsn: batch.commitLsn, prepared: false })
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
      try {
        await this.#prepareHead()
        const request = this.#nextRequest()
        if (request.length === 0) continue
        await this.#send(request)
        backoff = this.#limits.retryInitialMs
        if (this.#degraded) {
          this.#degraded = false
          this.#events.degraded(null)
        }
      } catch (error) {
        const translated = error instanceof RowcastError ? error : translateKafkaError(error)
        if (!translated.retriable) throw translated
        if (!this.#degraded) {
          this.#degraded = true
          this.#events.degraded(translated)
        }
        this.#logger.warn({ code: translated.code, retryInMs: backoff }, `Kafka: ${translated.message}; retrying`)
        await this.#sleep(backoff)
        backoff = Math.min(backoff * 2, this.#limits.retryMaxMs)
      }
    }
  }

  /**
   * Checks the batches at the head of the queue against the cluster: topics exist, partitions in range,
   * sizes under the limit. Row errors go through onRowError; a missing topic throws (retriable).
   */
  async #prepareHead(): Promise<void> {
    let budget = this.#limits.maxRequestMessages
    for (const entry of this.#queue) {
      if (budget <= 0) break
      budget -= entry.messages.length - entry.next
      if (entry.prepared) continue
      const topics = new Set(entry.messages.map((m) => m.topic))
      await this.#metadata.require(topics)
      const kept: OutgoingMessage[] = []
      for (const message of entry.messages) {
        const checked = this.#check(message)
        if (checked !== undefined) kept.push(checked)
      }
      // Replacements (dead letters) may name another topic: it must exist too.
      await this.#metadata.require(new Set(kept.map((m) => m.topic)))
      const dropped = entry.messages.length - kept.length
      const droppedBytes = totalSize(entry.messages) - totalSize(kept)
      entry.messages = kept
      entry.prepared = true
      if (dropped > 0) this.#settle(entry, dropped, droppedBytes)
    }
  }

  /** Resolves the partition of a message, or applies the row-error policy. */
  #check(message: OutgoingMessage): OutgoingMessage | undefined {
    const partitions = this.#metadata.partitions(message.topic)
    const reject = (code: string, reason: string, text: string) =>
      this.#events.rowError({ change: message.change, reason, error: new RowcastError(code, text) })
    if (message.partition !== null && (message.partition < 0 || message.partition >= partitions)) {
      const fixed = reject('ROW_PARTITION_MISSING', 'partition', `partition ${message.partition} does not exist in topic "${message.topic}" (it has ${partitions})`)
      return fixed === undefined ? undefined : this.#check(fixed)
    }
    const bytes = sizeOf(message)
    if (bytes > this.#limits.maxMessageBytes && message.deadLetter === undefined) {
      const fixed = reject('ROW_MESSAGE_TOO_LARGE', 'too-large', `message of ${bytes} bytes is over the limit of ${this.#limits.maxMessageBytes} bytes`)
      return fixed === undefined ? undefined : this.#check(fixed)
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
  #nextRequest(): { entry: Entry; from: number; to: number }[] {
    const parts: { entry: Entry; from: number; to: number }[] = []
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

  async #send(parts: { entry: Entry; from: number; to: number }[]): Promise<void> {
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

  async #sendTransaction(topicMessages: { topic: string; messages: Message[] }[], parts: { entry: Entry; from: number; to: number }[]): Promise<RecordMetadata[]> {
    const progress = this.#progress as TransactionalProgress
    const lsn = completedLsn(parts)
    const transaction: Transaction = await this.#producer.transaction()
    try {
      const records = lsn === null ? topicMessages : [...topicMessages, { topic: progress.topic, messages: [{ key: progress.key, value: progress.encode(lsn) }] }]
      const metadata = await transaction.sendBatch({ topicMessages: records, acks: -1 })
      await transaction.commit()
      return metadata
    } catch (error) {
      await transaction.abort().catch((abortError: unknown) => this.#logger.warn({ error: errorMessage(abortError) }, 'Kafka transaction abort failed'))
      throw error
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

function sizeOf(message: OutgoingMessage): number {
  let bytes = typeof message.value === 'string' ? Buffer.byteLength(message.value) : message.value.length
  if (message.key !== null) bytes += Buffer.byteLength(message.key)
  if (message.headers !== null) for (const [k, v] of Object.entries(message.headers)) bytes += k.length + Buffer.byteLength(v)
  return bytes
}

/** The highest commit LSN among batches this request completes (the progress record of exactly-once). */
function completedLsn(parts: { entry: Entry; from: number; to: number }[]): bigint | null {
  let lsn: bigint | null = null
  for (const { entry, to } of parts) if (to >= entry.messages.length && entry.commitLsn !== null) lsn = entry.commitLsn
  return lsn
}

/** Per-message offsets: a request's messages for one partition are consecutive from its baseOffset. */
function offsetsOf(parts: { entry: Entry; from: number; to: number }[], metadata: RecordMetadata[]): DeliveredMessage[] {
  const base = new Map<string, bigint>()
  for (const r of metadata) if (r.baseOffset !== undefined) base.set(`${r.topicName}\u0000${r.partition}`, BigInt(r.baseOffset))
  const delivered: DeliveredMessage[] = []
  for (const { entry, from, to } of parts) {
    for (let i = from; i < to; i++) {
      const message = entry.messages[i]
      const slot = `${message.topic}\u0000${message.partition}`
      const offset = base.get(slot)
      if (offset !== undefined) base.set(slot, offset + 1n)
      delivered.push({ message, partition: message.partition ?? -1, offset: offset === undefined ? '' : offset.toString(), commitTime: entry.commitTime, bytes: sizeOf(message) })
    }
  }
  return delivered
}
