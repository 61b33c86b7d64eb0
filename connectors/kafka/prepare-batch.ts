import type { OutgoingMessage, RejectedChange } from '../../core/changes.ts'
import type { SinkEvents } from '../../core/contracts.ts'
import type { ErrorCode } from '../../core/error-codes.ts'
import { RowcastError } from '../../core/errors.ts'
import { KAFKA_DEFAULT_MAX_MESSAGE_BYTES, messageSize, RECORD_BATCH_OVERHEAD, recordBytes } from './message-size.ts'
import { partitionForKey } from './partitioner.ts'
import type { PreparedMessages } from './send-queue.ts'

/** What batch preparation and request assembly need to know of a topic. */
export interface TopicInfo {
  partitions: number
  /** The topic's `max.message.bytes`: the largest record batch (one partition's messages of a request) it accepts. */
  maxMessageBytes: number
}

/** The cluster's topics as batch preparation needs them (topic-metadata.ts asks Kafka; tests fake it). */
export interface TopicMetadataLookup {
  /** Each of `topics` that exists; a topic that does not is left out. Other failures throw. */
  describe(topics: ReadonlySet<string>): Promise<ReadonlyMap<string, TopicInfo>>
}

export interface BatchPreparerOptions {
  metadata: TopicMetadataLookup
  /**
   * A message larger than this, or than its topic's record batch limit, is a row error. A dead letter is
   * checked against its topic's limit only; over it, it is sent without the row it carries (it says so),
   * and only if even that does not fit does the sync stop.
   */
  maxMessageBytes: number
  /** The sync's onRowError policy: a replacement (dead letter), undefined (skip), or it throws (fail). */
  rowError: SinkEvents['rowError']
}

/**
 * Checks a batch against the cluster before it is sent, and gives each message its partition: the
 * explicit one, murmur2 of the key (as Kafka's Java client), or round robin per topic. A message the
 * cluster cannot take (a partition the topic lacks, over the size limit) goes through the row-error policy.
 * A topic that does not exist throws KAFKA_TOPIC_MISSING (retriable): the batch is held until it exists.
 * It also keeps each topic's record batch limit, which request assembly needs (assemble-request.ts).
 */
export class BatchPreparer {
  readonly #metadata: TopicMetadataLookup
  readonly #maxMessageBytes: number
  readonly #rowError: SinkEvents['rowError']
  readonly #roundRobin = new Map<string, number>()
  readonly #batchLimits = new Map<string, number>()

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
      const described = await this.#metadata.describe(topics)
      const missing = [...topics].filter((topic) => !described.has(topic))
      if (missing.length > 0) {
        throw new RowcastError('KAFKA_TOPIC_MISSING', `topic ${missing.map((t) => `"${t}"`).join(', ')} does not exist in the Kafka cluster; create it (rowcast never creates topics) — the batch is held and retried`)
      }
      for (const [topic, info] of described) this.#batchLimits.set(topic, info.maxMessageBytes)
      const replaced: number[] = []
      for (const i of pending) {
        const message = kept[i] as OutgoingMessage
        const info = described.get(message.topic) as TopicInfo
        const rejected = this.#problem(message, keptSizes[i], info)
        if (rejected === null) {
          const count = info.partitions
          partitions[i] = message.partition ?? (message.key !== null ? partitionForKey(message.key, count) : this.#nextRoundRobin(message.topic, count))
          continue
        }
        if (message.deadLetter !== undefined && rejected.reason === 'too-large') {
          kept[i] = withoutRow(message, rejected)
          keptSizes[i] = messageSize(kept[i] as OutgoingMessage)
          replaced.push(i)
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

  /** The largest record batch `topic` accepts (its max.message.bytes), as last described; Kafka's default before. */
  batchLimit(topic: string): number {
    return this.#batchLimits.get(topic) ?? KAFKA_DEFAULT_MAX_MESSAGE_BYTES
  }

  /** Why the cluster cannot take a message, or null. */
  #problem(message: OutgoingMessage, bytes: number, { partitions, maxMessageBytes }: TopicInfo): RejectedChange | null {
    const reject = (code: ErrorCode, reason: string, text: string): RejectedChange => ({ change: message.change, reason, error: new RowcastError(code, text) })
    if (message.partition !== null && (message.partition < 0 || message.partition >= partitions)) {
      return reject('ROW_PARTITION_MISSING', 'partition', `partition ${message.partition} does not exist in topic "${message.topic}" (it has ${partitions})`)
    }
    // limits.maxMessageBytes is for data: a dead letter (which embeds a row) is held only to what its topic takes.
    if (bytes > this.#maxMessageBytes && message.deadLetter === undefined) {
      return reject('ROW_MESSAGE_TOO_LARGE', 'too-large', `message of ${bytes} bytes is over the limit of ${this.#maxMessageBytes} bytes`)
    }
    // Alone in its record batch it must still fit the topic's limit (batch header and record framing included).
    const batch = RECORD_BATCH_OVERHEAD + recordBytes(message, bytes)
    if (batch > maxMessageBytes) {
      return reject('ROW_MESSAGE_TOO_LARGE', 'too-large', `message of ${bytes} bytes (${batch} as a record batch) is over the max.message.bytes of ${maxMessageBytes} of topic "${message.topic}"`)
    }
    return null
  }

  #nextRoundRobin(topic: string, partitions: number): number {
    const next = ((this.#roundRobin.get(topic) ?? -1) + 1) % partitions
    this.#roundRobin.set(topic, next)
    return next
  }
}

/**
 * A dead letter too large for its topic (it embeds the row that was itself too large): the same letter
 * without `row` and `previous`, saying why. One that has no smaller form, or is still too large, stops the
 * sync (non-retriable): a dead-letter topic whose limit cannot take a few hundred bytes is a setup error.
 */
function withoutRow(message: OutgoingMessage, rejected: RejectedChange): OutgoingMessage {
  const { deadLetter } = message
  if (deadLetter?.withoutRow === undefined) {
    throw new RowcastError('ROW_MESSAGE_TOO_LARGE', `the dead letter for row ${message.change.key ?? '(no key)'} of ${message.change.table} (lsn ${message.change.lsn}) cannot be sent even without the row: ${rejected.error.message}; raise max.message.bytes of topic "${message.topic}"`)
  }
  const note = `row and previous left out: ${rejected.error.message}`
  return { ...message, value: deadLetter.withoutRow(note), deadLetter: { reason: deadLetter.reason, error: deadLetter.error } }
}
