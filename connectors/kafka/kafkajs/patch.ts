/**
 * kafkajs, as rowcast loads it: the fast paths first, then kafkajs. rowcast's code takes kafkajs' values
 * from loadKafkajs() (its types from 'kafkajs' with `import type`), so kafkajs is never loaded before
 * installKafkajsFastPaths() ran, whatever the import order (static imports are hoisted, also in the bundle).
 * Each fast path is one of kafkajs' own modules put in require's cache before kafkajs requires it:
 * - grouping: producer/groupMessagesPerPartition in one pass instead of O(n²) (group-messages.ts);
 * - produce request: protocol/requests/produce/v3/request (v4–v7 reuse it) into one exact buffer (produce-request.ts),
 *   and protocol/request, the framing of every request, with one copy of its payload (request-frame.ts).
 * Both were written against kafkajs' 2.2.x sources: another version, another file layout, or kafkajs loaded
 * before rowcast (an application that imported it first) leaves kafkajs its own, and the log says which.
 */
import { createRequire, Module } from 'node:module'
import type * as KafkaJS from 'kafkajs'
import type { Logger } from '../../../core/logger.ts'
import { groupMessagesPerPartition } from './group-messages.ts'
import { produceRequest, type KafkajsProtocol } from './produce-request.ts'
import { requestFrame } from './request-frame.ts'
import { clampRequestQueueTimeout } from './request-queue-timeout.ts'

export interface FastPathStatus {
  /** kafkajs' version, from its package.json; null when it cannot be read. */
  version: string | null
  grouping: boolean
  /** The produce request and the requests' framing. */
  produceRequest: boolean
  /** Why a path is not active; null when both are. */
  reason: string | null
}

/** The kafkajs line whose sources the fast paths copy (package.json depends on ^2.2.4). */
const SUPPORTED_VERSION = /^2\.2\.\d+$/
const GROUPING_FILE = 'kafkajs/src/producer/groupMessagesPerPartition.js'
const PRODUCE_FILE = 'kafkajs/src/protocol/requests/produce/v3/request.js'
const FRAME_FILE = 'kafkajs/src/protocol/request.js'
/** What the produce request takes of kafkajs (none of them replaced). */
const PROTOCOL_FILES = {
  encoder: 'kafkajs/src/protocol/encoder.js',
  long: 'kafkajs/src/utils/long.js',
  compression: 'kafkajs/src/protocol/message/compression/index.js',
  apiKeys: 'kafkajs/src/protocol/requests/apiKeys.js',
}

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
    const { version, grouping, produceRequest, reason } = installed
    const log = logger.child({ component: 'kafkajs' })
    if (reason === null) log.info({ kafkajs: version, grouping, produceRequest }, 'kafkajs fast paths active: grouping, produce request')
    else log.warn({ kafkajs: version, grouping, produceRequest }, `kafkajs fast paths not active: ${reason}; stock kafkajs is used for them (same bytes, more CPU and memory)`)
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
  const inactive = (version: string | null, reason: string): FastPathStatus => ({ version, grouping: false, produceRequest: false, reason })
  const version = kafkajsVersion()
  if (version === null) return inactive(null, 'kafkajs/package.json cannot be read')
  if (!SUPPORTED_VERSION.test(version)) return inactive(version, `kafkajs ${version} is not the 2.2.x line they were written for`)
  const paths = [GROUPING_FILE, PRODUCE_FILE, FRAME_FILE, ...Object.values(PROTOCOL_FILES)]
  let resolved: string[]
  try {
    resolved = paths.map((path) => require.resolve(path))
  } catch {
    return inactive(version, `kafkajs ${version} lays its files out differently (one of ${paths.join(', ')} not found)`)
  }
  const [groupingFile, produceFile, frameFile] = resolved as [string, string, string]
  const grouping = replaceModule(groupingFile, () => groupMessagesPerPartition)
  const protocol = kafkajsProtocol()
  const frame = replaceModule(frameFile, () => requestFrame(protocol.encoderPrototype))
  const produce = replaceModule(produceFile, () => produceRequest(protocol)) && frame
  clampRequestQueueTimeout() // not a fast path: Node 24's TimeoutNegativeWarning (request-queue-timeout.ts)
  const early = [grouping ? null : 'grouping', produce ? null : 'produce request'].filter((name) => name !== null)
  return {
    version,
    grouping,
    produceRequest: produce,
    reason: early.length === 0 ? null : `kafkajs was loaded before rowcast could install the ${early.join(' and ')} (import rowcast before kafkajs)`,
  }
}

function kafkajsProtocol(): KafkajsProtocol {
  const Encoder = require(PROTOCOL_FILES.encoder) as { prototype: object }
  const Long = require(PROTOCOL_FILES.long) as { fromValue(value: unknown): ReturnType<KafkajsProtocol['longFromValue']> }
  const { lookupCodec } = require(PROTOCOL_FILES.compression) as Pick<KafkajsProtocol, 'lookupCodec'>
  return {
    encoderPrototype: Encoder.prototype,
    produceApiKey: (require(PROTOCOL_FILES.apiKeys) as { Produce: number }).Produce,
    longFromValue: (value) => Long.fromValue(value),
    lookupCodec,
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
