/**
 * kafkajs, as rowcast loads it: import its values from here, its types from 'kafkajs'. It is required at
 * run time, not imported, so the fix below comes first even in the bundle (which hoists static imports).
 * kafkajs' groupMessagesPerPartition copies a partition's whole array for every message it adds
 * (`[...current, message]`), O(n²) per produce request: ~6 % of rowcast's CPU at 5,000 messages per request
 * (kafkajs PR #1576, unmerged). That module is put in require's cache, before kafkajs' producer requires it,
 * as the same grouping done in one pass. If kafkajs was loaded before (by an application that imported it
 * first) or lays its files out differently, kafkajs keeps its own.
 */
import { createRequire, Module } from 'node:module'
import type * as KafkaJS from 'kafkajs'

interface Grouping {
  topic: string
  partitionMetadata: unknown[]
  messages: unknown[]
  partitioner: (args: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number
}

/** kafkajs' grouping, in one pass: messages of each partition in their order. */
export function groupMessagesPerPartition({ topic, partitionMetadata, messages, partitioner }: Grouping): Record<number, unknown[]> {
  const result: Record<number, unknown[]> = {}
  if (partitionMetadata.length === 0) return result
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition]
    if (current === undefined) result[partition] = [message]
    else current.push(message)
  }
  return result
}

const require = createRequire(import.meta.url)
try {
  const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')
  if (require.cache[file] === undefined) {
    const module = new Module(file)
    module.filename = file
    module.loaded = true
    module.exports = groupMessagesPerPartition
    require.cache[file] = module
  }
} catch {
  // another kafkajs layout: its own grouping stays
}

const kafkajs = require('kafkajs') as typeof KafkaJS
export const { Kafka, Partitioners, logLevel } = kafkajs
