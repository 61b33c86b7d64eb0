import type { OutgoingMessage, RejectedChange } from '../../core/changes.ts'
import type { SinkEvents } from '../../core/contracts.ts'
import type { ErrorCode } from '../../core/error-codes.ts'
import { RowcastError } from '../../core/errors.ts'
import { messageSize } from './message-size.ts'
import { partitionForKey } from './partitioner.ts'
import type { PreparedMessages } from './send-queue.ts'

/** The cluster's topics as batch preparation needs them (topic-metadata.ts asks Kafka; tests fake it). */
export interface TopicMetadataLookup {
  /** The partition count of each of `topics` that exists; a topic that does not is left out. Other failures throw. */
  partitionCounts(topics: ReadonlySet<string>): Promise<ReadonlyMap<string, number>>
}

export interface BatchPreparerOptions {
  metadata: TopicMetadataLookup
  /** A message larger than this is a row error (dead letters excepted: they are sent as they are). */
  maxMessageBytes: number
  /** The sync's onRowError policy: a replacement (dead letter), undefined (skip), or it throws (fail). */
  rowError: SinkEvents['rowError']
}

/**
 * Checks a batch against the cluster before it is sent, and gives each message its partition: the
 * explicit one, murmur2 of the key (as Kafka's Java client), or round robin per topic. A message the
 * cluster cannot take (a partition the topic lacks, over the size limit) goes through the row-error policy.
 * A topic that does not exist throws KAFKA_TOPIC_MISSING (retriable): the batch is held until it exists.
 */
export class BatchPreparer {
  readonly #metadata: TopicMetadataLookup
  readonly #maxMessageBytes: number
  readonly #rowError: SinkEvents['rowError']
  readonly #roundRobin = new Map<string, number>()

  constructor(options: BatchPreparerOptions) {
    this.#metadata = options.metadata
    this.#maxMessageBytes = options.maxMessageBytes
    this.#rowError = options.rowError
  }

  /** The messages to send, in order, with sizes and partitions; `sizes` are the messages' sizes if already measured. */
  async prepare(messages: readonly OutgoingMessage[], sizes: readonly number[] = messages.map((m) => messageSize(m))): Promise<PreparedMessages> {
    const kept: (OutgoingMessage | undefined)[] = [...messages]
    const keptSizes = [...sizes]
    const partitions = new Array<number>(messages.length)
    // Checked in rounds: a replacement (dead letter) may name another topic, which must exist and be known
    // before the replacement itself is checked.
    let pending: number[] = messages.map((_m, i) => i)
    while (pending.length > 0) {
      const topics = new Set<string>()
      for (const i of pending) topics.add((kept[i] as OutgoingMessage).topic)
      const counts = await this.#metadata.partitionCounts(topics)
      const missing = [...topics].filter((topic) => !counts.has(topic))
      if (missing.length > 0) {
        throw new RowcastError('KAFKA_TOPIC_MISSING', `topic ${missing.map((t) => `"${t}"`).join(', ')} does not exist in the Kafka cluster; create it (rowcast never creates topics) — the batch is held and retried`)
      }
      const replaced: number[] = []
      for (const i of pending) {
        const message = kept[i] as OutgoingMessage
        const count = counts.get(message.topic) as number
        const rejected = this.#problem(message, keptSizes[i], count)
        if (rejected === null) {
          partitions[i] = message.partition ?? (message.key !== null ? partitionForKey(message.key, count) : this.#nextRoundRobin(message.topic, count))
          continue
        }
        const replacement = this.#rowError(rejected)
        kept[i] = replacement
        if (replacement !== undefined) {
          keptSizes[i] = messageSize(replacement)
          replaced.push(i)
        }
      }
      pending = replaced
    }
    if (!kept.includes(undefined)) return { messages: kept as OutgoingMessage[], sizes: keptSizes, partitions }
    const out: PreparedMessages = { messages: [], sizes: [], partitions: [] }
    for (const [i, message] of kept.entries()) {
      if (message === undefined) continue
      out.messages.push(message)
      out.sizes.push(keptSizes[i])
      out.partitions.push(partitions[i])
    }
    return out
  }

  /** Why the cluster cannot take a message, or null. */
  #problem(message: OutgoingMessage, bytes: number, partitions: number): RejectedChange | null {
    const reject = (code: ErrorCode, reason: string, text: string): RejectedChange => ({ change: message.change, reason, error: new RowcastError(code, text) })
    if (message.partition !== null && (message.partition < 0 || message.partition >= partitions)) {
      return reject('ROW_PARTITION_MISSING', 'partition', `partition ${message.partition} does not exist in topic "${message.topic}" (it has ${partitions})`)
    }
    if (bytes > this.#maxMessageBytes && message.deadLetter === undefined) {
      return reject('ROW_MESSAGE_TOO_LARGE', 'too-large', `message of ${bytes} bytes is over the limit of ${this.#maxMessageBytes} bytes`)
    }
    return null
  }

  #nextRoundRobin(topic: string, partitions: number): number {
    const next = ((this.#roundRobin.get(topic) ?? -1) + 1) % partitions
    this.#roundRobin.set(topic, next)
    return next
  }
}
