import type { TopicEncoders } from '../../../core/contracts.ts'
import type { Logger } from '../../../core/logger.ts'
import type { SchemaRegistryConfig } from './config.ts'
import { deriveSchema, type MessageSchemaFormat, type SchemaField } from './derive-schema.ts'
import { createRegistryEncoder, type RegistryEncoder } from './registry-encoder.ts'

export interface RegistryTopicEncodersOptions {
  registry: SchemaRegistryConfig
  format: MessageSchemaFormat
  /** A schema file's text, used for every topic, or the fields a schema is derived from per topic. */
  schema: { text: string } | { fields: readonly SchemaField[] }
  logger: Logger
}

/**
 * One registry encoder per topic (subject `<topic>-value`, topic-name strategy), created and registered on
 * first `prepare`; `get` answers only for topics whose schema is ready.
 */
export function registryTopicEncoders(options: RegistryTopicEncodersOptions): TopicEncoders {
  const { registry, format, schema, logger } = options
  const encoders = new Map<string, RegistryEncoder>()
  const ready = new Map<string, (value: string | Buffer) => Buffer>()
  const prepare = async (topics: readonly string[]): Promise<void> => {
    await Promise.all(
      topics.map(async (topic) => {
        let encoder = encoders.get(topic)
        if (encoder === undefined) {
          const text = 'text' in schema ? schema.text : deriveSchema(format, schema.fields, topic)
          encoder = createRegistryEncoder({ config: registry, format, schema: text, topic, logger })
          encoders.set(topic, encoder)
        }
        await encoder.init()
        const ok = encoder
        ready.set(topic, (value) => ok.encode(typeof value === 'string' ? value : value.toString('utf8')))
      }),
    )
  }
  return { get: (topic) => ready.get(topic), prepare }
}
