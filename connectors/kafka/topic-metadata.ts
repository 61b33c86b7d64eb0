import type { Admin } from 'kafkajs'
import { translateKafkaError } from './errors.ts'
import type { TopicMetadataLookup } from './prepare-batch.ts'

const REFRESH_MS = 60_000

/**
 * Which topics exist and how many partitions each has, from the cluster's metadata, cached for a minute.
 * rowcast never creates topics: one that does not exist is left out of the answer (batch preparation holds
 * the batch), and asked about again next time.
 */
export class TopicMetadataCache implements TopicMetadataLookup {
  readonly #admin: Admin
  readonly #partitions = new Map<string, { count: number; at: number }>()

  constructor(admin: Admin) {
    this.#admin = admin
  }

  async partitionCounts(topics: ReadonlySet<string>): Promise<ReadonlyMap<string, number>> {
    const now = Date.now()
    const counts = new Map<string, number>()
    for (const topic of topics) {
      const known = this.#partitions.get(topic)
      if (known !== undefined && now - known.at <= REFRESH_MS) {
        counts.set(topic, known.count)
        continue
      }
      try {
        const { topics: [meta] } = await this.#admin.fetchTopicMetadata({ topics: [topic] })
        this.#partitions.set(topic, { count: meta.partitions.length, at: now })
        counts.set(topic, meta.partitions.length)
      } catch (error) {
        const translated = translateKafkaError(error, { topic })
        if (translated.code !== 'KAFKA_TOPIC_MISSING') throw translated
        this.#partitions.delete(topic)
      }
    }
    return counts
  }
}
