import type { Admin } from 'kafkajs'
import type { Logger } from '../../core/logger.ts'
import { translateKafkaError } from './errors.ts'
import { loadKafkajs } from './kafkajs/patch.ts'
import { KAFKA_DEFAULT_MAX_MESSAGE_BYTES } from './message-size.ts'
import type { TopicInfo, TopicMetadataLookup } from './prepare-batch.ts'

const REFRESH_MS = 60_000

/**
 * Which topics exist, how many partitions each has, and the largest record batch each accepts (its own
 * `max.message.bytes`), from the cluster, cached for a minute. rowcast never creates topics: one that does
 * not exist is left out of the answer (batch preparation holds the batch), and asked about again next time.
 */
export class TopicMetadataCache implements TopicMetadataLookup {
  readonly #admin: Admin
  readonly #logger: Logger | undefined
  readonly #topics = new Map<string, TopicInfo & { at: number }>()
  #warnedConfigs = false

  constructor(admin: Admin, logger?: Logger) {
    this.#admin = admin
    this.#logger = logger
  }

  async describe(topics: ReadonlySet<string>): Promise<ReadonlyMap<string, TopicInfo>> {
    const now = Date.now()
    const found = new Map<string, TopicInfo>()
    for (const topic of topics) {
      const known = this.#topics.get(topic)
      if (known !== undefined && now - known.at <= REFRESH_MS) {
        found.set(topic, known)
        continue
      }
      try {
        const { topics: [meta] } = await this.#admin.fetchTopicMetadata({ topics: [topic] })
        const info = { partitions: meta.partitions.length, maxMessageBytes: await this.#maxMessageBytes(topic) }
        this.#topics.set(topic, { ...info, at: now })
        found.set(topic, info)
      } catch (error) {
        const translated = translateKafkaError(error, { topic })
        if (translated.code !== 'KAFKA_TOPIC_MISSING') throw translated
        this.#topics.delete(topic)
      }
    }
    return found
  }

  /** The topic's `max.message.bytes`; Kafka's default when the user may not read topic configs (DescribeConfigs ACL). */
  async #maxMessageBytes(topic: string): Promise<number> {
    try {
      const { resources } = await this.#admin.describeConfigs({
        resources: [{ type: loadKafkajs().ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }],
        includeSynonyms: false,
      })
      const value = Number(resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes')?.configValue)
      if (Number.isInteger(value) && value > 0) return value
      throw new Error(`no max.message.bytes in the answer for topic "${topic}"`)
    } catch (error) {
      const translated = translateKafkaError(error, { topic })
      if (translated.code === 'KAFKA_TOPIC_MISSING' || translated.retriable) throw translated
      if (!this.#warnedConfigs) {
        this.#warnedConfigs = true
        this.#logger?.warn({ topic, code: translated.code }, `cannot read the config of topic "${topic}" (${translated.message}); assuming Kafka's default max.message.bytes of ${KAFKA_DEFAULT_MAX_MESSAGE_BYTES} — grant DescribeConfigs on the topics so rowcast sizes record batches by each topic's own limit`)
      }
      return KAFKA_DEFAULT_MAX_MESSAGE_BYTES
    }
  }
}
