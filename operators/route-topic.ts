import { map, type OperatorFunction } from 'rxjs'
import { z } from 'zod'
import { isRejected, mapItems, type Batch, type ModelChange, type RejectedChange } from '../core/changes.ts'
import { RowcastError } from '../core/errors.ts'
import type { ChangeType } from '../core/changes.ts'
import { textForm } from './classify.ts'

const topicName = z.string().min(1).max(249).regex(/^[a-zA-Z0-9._-]+$/, 'a Kafka topic name has only letters, digits, ".", "_" and "-"')

/** `topic: users` | `topic: { added: a, changed: b, removed: c }` | `topic: { column: topic_name }` */
export const topicConfigSchema = z.union([
  topicName,
  z.object({ column: z.string().min(1) }).strict(),
  z.object({ added: topicName.optional(), changed: topicName.optional(), removed: topicName.optional() }).strict(),
])
export type TopicConfig = z.infer<typeof topicConfigSchema>

/** A message whose value is rendered, before it is routed. */
export interface ComposedMessage {
  change: ModelChange
  value: string | Buffer
}
export interface RoutedMessage extends ComposedMessage {
  topic: string
}

/** Sets the Kafka topic of each message: fixed, per trigger, or read from a column of the row. */
export function routeTopic(config: TopicConfig): OperatorFunction<Batch<ComposedMessage | RejectedChange>, Batch<RoutedMessage | RejectedChange>> {
  const pick = compileTopicRule(config)
  return map((batch) =>
    mapItems(batch, (item) => {
      if (isRejected(item)) return item
      const topic = pick(item.change)
      if (topic instanceof Error) return { change: item.change, error: topic, reason: 'topic' }
      return { change: item.change, value: item.value, topic }
    }),
  )
}

/** The topics a config names up front (not those read from a column). */
export function staticTopics(config: TopicConfig): string[] {
  if (typeof config === 'string') return [config]
  if ('column' in config) return []
  return [...new Set(Object.values(config).filter((t): t is string => t !== undefined))]
}

function compileTopicRule(config: TopicConfig): (change: ModelChange) => string | Error {
  if (typeof config === 'string') return () => config
  if ('column' in config) {
    const column = config.column
    return (change) => {
      const topic = textForm(change.row[column])
      if (topic === null || topic === '') return new RowcastError('ROW_TOPIC_MISSING', `topic column "${column}" is NULL or empty`)
      // Kafka would refuse the name (INVALID_TOPIC_EXCEPTION) and fail the whole sync: it is this row's error.
      if (!topicName.safeParse(topic).success) return new RowcastError('ROW_TOPIC_INVALID', `topic column "${column}" holds ${JSON.stringify(topic)}, which is not a valid Kafka topic name`)
      return topic
    }
  }
  const byType: Partial<Record<ChangeType, string>> = config
  return (change) => byType[change.type] ?? new RowcastError('ROW_TOPIC_MISSING', `no topic is configured for ${change.type} rows`)
}
