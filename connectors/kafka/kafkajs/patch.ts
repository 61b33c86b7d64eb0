/**
 * kafkajs, as rowcast loads it: the fast paths first, then kafkajs. rowcast's code takes kafkajs' values
 * from loadKafkajs() (its types from 'kafkajs' with `import type`), so kafkajs is never loaded before
 * installKafkajsFastPaths() ran, whatever the import order (static imports are hoisted, also in the bundle).
 * Each fast path is one of kafkajs' own modules put in require's cache before kafkajs requires it:
 * - grouping: producer/groupMessagesPerPartition in one pass instead of O(n²) (group-messages.ts);
 * - record encoder: protocol/recordBatch/record/v0 into one exact buffer (record-encoder.ts).
 * Both were written against kafkajs' 2.2.x sources: another version, another file layout, or kafkajs loaded
 * before rowcast (an application that imported it first) leaves kafkajs its own, and the log says which.
 */
import { createRequire, Module } from 'node:module'
import type * as KafkaJS from 'kafkajs'
import type { Logger } from '../../../core/logger.ts'
import { groupMessagesPerPartition } from './group-messages.ts'
import { recordEncoder } from './record-encoder.ts'
import { clampRequestQueueTimeout } from './request-queue-timeout.ts'

export interface FastPathStatus {
  /** kafkajs' version, from its package.json; null when it cannot be read. */
  version: string | null
  grouping: boolean
  recordEncoder: boolean
  /** Why a path is not active; null when both are. */
  reason: string | null
}

/** The kafkajs line whose sources the fast paths copy (package.json depends on ^2.2.4). */
const SUPPORTED_VERSION = /^2\.2\.\d+$/
const GROUPING_FILE = 'kafkajs/src/producer/groupMessagesPerPartition.js'
const RECORD_FILE = 'kafkajs/src/protocol/recordBatch/record/v0/index.js'
const ENCODER_FILE = 'kafkajs/src/protocol/encoder.js'

const require = createRequire(import.meta.url)
let installed: FastPathStatus | null = null
let logged = false

/**
 * Puts the fast paths in place if kafkajs is the expected version and layout and not loaded yet. Runs once;
 * later calls return the same status. The first call given a logger logs the status (info when both paths
 * are active, warn when not: stock kafkajs is correct, only slower).
 */
export function installKafkajsFastPaths(logger?: Logger): FastPathStatus {
  installed ??= install()
  if (logger !== undefined && !logged) {
    logged = true
    const { version, grouping, recordEncoder, reason } = installed
    const log = logger.child({ component: 'kafkajs' })
    if (reason === null) log.info({ kafkajs: version, grouping, recordEncoder }, 'kafkajs fast paths active: grouping, record encoder')
    else log.warn({ kafkajs: version, grouping, recordEncoder }, `kafkajs fast paths not active: ${reason}; stock kafkajs is used for them (same bytes, more CPU and memory)`)
  }
  return installed
}

/** What the install reported; null before it ran. */
export function kafkajsFastPaths(): FastPathStatus | null {
  return installed
}

/** kafkajs' values (Kafka, Partitioners, logLevel …), loaded after the fast paths: rowcast's one way to them. */
export function loadKafkajs(): typeof KafkaJS {
  installKafkajsFastPaths()
  return require('kafkajs') as typeof KafkaJS
}

function install(): FastPathStatus {
  const inactive = (version: string | null, reason: string): FastPathStatus => ({ version, grouping: false, recordEncoder: false, reason })
  const version = kafkajsVersion()
  if (version === null) return inactive(null, 'kafkajs/package.json cannot be read')
  if (!SUPPORTED_VERSION.test(version)) return inactive(version, `kafkajs ${version} is not the 2.2.x line they were written for`)
  let files: { grouping: string; record: string; encoder: string }
  try {
    files = { grouping: require.resolve(GROUPING_FILE), record: require.resolve(RECORD_FILE), encoder: require.resolve(ENCODER_FILE) }
  } catch {
    return inactive(version, `kafkajs ${version} lays its files out differently (${GROUPING_FILE}, ${RECORD_FILE} or ${ENCODER_FILE} not found)`)
  }
  const grouping = replaceModule(files.grouping, () => groupMessagesPerPartition)
  const record = replaceModule(files.record, () => recordEncoder((require(files.encoder) as { prototype: object }).prototype))
  clampRequestQueueTimeout() // not a fast path: Node 24's TimeoutNegativeWarning (request-queue-timeout.ts)
  const early = [grouping ? null : 'grouping', record ? null : 'record encoder'].filter((name) => name !== null)
  return {
    version,
    grouping,
    recordEncoder: record,
    reason: early.length === 0 ? null : `kafkajs was loaded before rowcast could install the ${early.join(' and ')} (import rowcast before kafkajs)`,
  }
}

function kafkajsVersion(): string | null {
  try {
    const { version } = require('kafkajs/package.json') as { version?: unknown }
    return typeof version === 'string' ? version : null
  } catch {
    return null
  }
}

/** Puts `exports` in require's cache as the module at `file`; false when it is loaded already (kafkajs keeps its own). */
function replaceModule(file: string, exports: () => unknown): boolean {
  if (require.cache[file] !== undefined) return false
  const module = new Module(file)
  module.filename = file
  module.loaded = true
  module.exports = exports()
  require.cache[file] = module
  return true
}
