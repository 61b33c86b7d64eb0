import type { Admin } from 'kafkajs'
import { RowcastError } from '../../core/errors.ts'
import { translateKafkaError } from './errors.ts'

const REFRESH_MS = 60_000

/**
 * Which topics exist and how many partitions each has, from the cluster's metadata. rowcast never creates
 * topics: a topic that does not exist is a retriable error naming it, so the sync waits until it does.
 */
export class TopicMetadataCache {
  readonly #admin: Admin
  readonly #partitions = new Map<string, { count: number; at: number }>()

  constructor(admin: Admin) {
    this.#admin = admin
  }

  /** Ensures every topic is known to exist; throws KAFKA_TOPIC_MISSING (retriable) naming the missing ones. */
  async require(topics: Iterable<string>): Promise<void> {
    const now = Date.now()
    const unknown = [...topics].filter((t) => {
      const known = this.#partitions.get(t)
      return known === undefined || now - known.at > REFRESH_MS
    })
    if (unknown.length === 0) return
    const missing: string[] = []
    for (const topic of unknown) {
      try {
        const { topics: [meta] } = await this.#admin.fetchTopicMetadata({ topics: [topic] })
        this.#partitions.set(topic, { count: meta.partitions.length, at: now })
      } catch (error) {
        const translated = translateKafkaError(error, { topic })
        if (translated.code !== 'KAFKA_TOPIC_MISSING') throw translated
        this.#partitions.delete(topic)
        missing.push(topic)
      }
    }
    if (missing.length > 0) {
      throw new RowcastError('KAFKA_TOPIC_MISSING', `topic ${missing.map((t) => `"${t}"`).join(', ')} does not exist in the Kafka cluster; create it (rowcast never creates topics) — the batch is held and retried`)
    }
  }

  partitions(topic: string): number {
    const known = this.#partitions.get(topic)
    if (known === undefined) throw new Error(`topic metadata for "${topic}" was not loaded`)
    return known.count
  }
}
