/**
 * kafkajs, as rowcast loads it: import its values from here, its types from 'kafkajs'. It is required at
 * run time, not imported, so the two fixes below come first even in the bundle (which hoists static
 * imports). Each is one of kafkajs' own modules put in require's cache before kafkajs requires it:
 * - groupMessagesPerPartition copies a partition's whole array for every message it adds
 *   (`[...current, message]`), O(n²) per produce request: ~6 % of rowcast's CPU measured at 5,000 messages
 *   per request (kafkajs PR #1576, unmerged). Here: the same grouping in one pass.
 * - the record encoder allocates two or more zero-filled 512-byte buffers and a Buffer per varint for every
 *   record: ~40 % of rowcast's allocations. Here: the same bytes in one buffer (kafkajs-record.ts).
 * If kafkajs was loaded before (by an application that imported it first) or lays its files out
 * differently, kafkajs keeps its own.
 */
import { createRequire, Module } from 'node:module'
import type * as KafkaJS from 'kafkajs'
import { recordEncoder } from './record-encoder.ts'

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

/** Puts `exports` in require's cache as kafkajs' module `file`, unless kafkajs (or someone) loaded it already. */
function replaceModule(file: string, exports: () => unknown): void {
  try {
    const resolved = require.resolve(`kafkajs/src/${file}`)
    if (require.cache[resolved] !== undefined) return
    const module = new Module(resolved)
    module.filename = resolved
    module.loaded = true
    module.exports = exports()
    require.cache[resolved] = module
  } catch {
    // another kafkajs layout: its own module stays
  }
}

replaceModule('producer/groupMessagesPerPartition.js', () => groupMessagesPerPartition)
replaceModule('protocol/recordBatch/record/v0/index.js', () => recordEncoder((require('kafkajs/src/protocol/encoder.js') as { prototype: object }).prototype))

const kafkajs = require('kafkajs') as typeof KafkaJS
export const { Kafka, Partitioners, logLevel } = kafkajs
