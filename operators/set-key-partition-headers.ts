import { map, type OperatorFunction } from 'rxjs'
import { z } from 'zod'
import { isRejected, mapItems, type Batch, type OutgoingMessage, type RejectedChange } from '../core/changes.ts'
import { textForm } from './classify.ts'
import type { RoutedMessage } from './route-topic.ts'

export const keyPartitionHeadersSchema = z.object({
  /** Column whose text is the Kafka key: murmur2-partitioned like Kafka's Java default partitioner. */
  key: z.string().min(1).optional(),
  /** Column cast to a partition number; takes precedence over key. Not castable -> null (then key, then round-robin). */
  partition: z.string().min(1).optional(),
  /** Header name -> column; the header value is the column's text form, NULL means no header. */
  headers: z.record(z.string().min(1), z.string().min(1)).optional(),
})

export interface KeyPartitionHeadersConfig {
  key?: string
  partition?: string
  headers?: Record<string, string>
}

/** Names the columns of a `changed` message whose unchanged large value was read back from the table. */
export const RESELECTED_HEADER = 'rowcast-reselected'

/** Sets the Kafka key, the explicit partition and the headers of each message from columns of the row. */
export function setKeyPartitionHeaders(config: KeyPartitionHeadersConfig): OperatorFunction<Batch<RoutedMessage | RejectedChange>, Batch<OutgoingMessage | RejectedChange>> {
  const keyColumn = config.key
  const partitionColumn = config.partition
  const headerPairs = Object.entries(config.headers ?? {})
  return map((batch) =>
    mapItems(batch, (item) => {
      if (isRejected(item)) return item
      const row = item.change.row
      let headers: Record<string, string> | null = null
      for (const [name, column] of headerPairs) {
        const value = textForm(row[column])
        if (value === null) continue
        headers ??= {}
        headers[name] = value
      }
      // A value read back from the table is its current one, not the one committed with this change: say so.
      if (item.change.reselected !== undefined) (headers ??= {})[RESELECTED_HEADER] = item.change.reselected.join(',')
      return {
        change: item.change,
        value: item.value,
        topic: item.topic,
        key: keyColumn === undefined ? null : textForm(row[keyColumn]),
        partition: partitionColumn === undefined ? null : castPartition(row[partitionColumn]),
        headers,
      }
    }),
  )
}

/** The seed: "automatically tries to cast the value to a number. If we can't, it is sent as null". */
export function castPartition(value: unknown): number | null {
  let n: number
  if (typeof value === 'number') n = value
  else if (typeof value === 'bigint') n = Number(value)
  else if (typeof value === 'string' && value.trim() !== '') n = Number(value.trim()) // Number('  ') would be 0
  else return null // NULL, booleans, json objects and arrays are not partition numbers
  return Number.isSafeInteger(n) ? n : null // a number outside the topic's partitions is a row error at the sink
}
