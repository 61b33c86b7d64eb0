/**
 * Encodes each routed message's value for a Schema Registry (Avro or JSON Schema, Confluent wire format),
 * with the encoder of its topic (subject `<topic>-value`). For `format: json` the step is a no-op.
 *
 * Encoding is synchronous. Only when a batch routes to a topic whose schema is not registered yet (topics read
 * from a column; fixed and per-trigger topics are registered at start-up) does the step wait for the registry
 * once, before that batch: batches keep their order. A registry refusal then fails the sync. While it waits,
 * `onWaiting(true)` asks for the source to be paused (what arrives meanwhile is buffered here), `onWaiting(false)` after.
 * A value that does not fit the schema (ROW_SCHEMA_MISMATCH) becomes a RejectedChange for the sync's onRowError.
 */
import { concatMap, finalize, from, identity, of, type OperatorFunction } from 'rxjs'
import { isRejected, mapItems, type Batch, type RejectedChange } from '../core/changes.ts'
import type { TopicEncoders } from '../core/contracts.ts'
import type { RoutedMessage } from './route-topic.ts'

type Item = RoutedMessage | RejectedChange

export function encodeValue(encoders: TopicEncoders | null, onWaiting?: (waiting: boolean) => void): OperatorFunction<Batch<Item>, Batch<Item>> {
  if (encoders === null) return identity
  const encodeBatch = (batch: Batch<Item>): Batch<Item> => mapItems(batch, (item) => (isRejected(item) ? item : encodeItem(item, encoders)))
  return concatMap((batch) => {
    const missing = unpreparedTopics(batch, encoders)
    if (missing.length === 0) return of(encodeBatch(batch))
    onWaiting?.(true)
    return from(encoders.prepare(missing).then(() => encodeBatch(batch))).pipe(finalize(() => onWaiting?.(false)))
  })
}

function encodeItem(item: RoutedMessage, encoders: TopicEncoders): Item {
  const encode = encoders.get(item.topic)
  try {
    if (encode === undefined) throw new Error(`no schema is ready for topic ${item.topic}`) // prepare() guarantees one
    return { ...item, value: encode(item.value) }
  } catch (error) {
    return { change: item.change, reason: 'schema', error: error instanceof Error ? error : new Error(String(error)) }
  }
}

function unpreparedTopics(batch: Batch<Item>, encoders: TopicEncoders): string[] {
  const missing = new Set<string>()
  for (const item of batch.items) if (!isRejected(item) && encoders.get(item.topic) === undefined) missing.add(item.topic)
  return [...missing]
}
