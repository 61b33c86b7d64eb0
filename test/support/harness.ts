import { randomBytes } from 'node:crypto'
import { after } from 'node:test'
import { describeOnHang } from './watchdog.ts'
import pg from 'pg'
import type { Consumer } from 'kafkajs'
import type { KafkaClient } from '../../connectors/kafka/client.ts'
import { loadKafkajs } from '../../connectors/kafka/kafkajs/patch.ts'
import { ensureStack, type StackEnv } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'
import type { RowcastConfig } from '../../config/root-schema.ts'
import { startDaemon, type Daemon, type DaemonOptions } from '../../daemon/daemon.ts'
import { createLogger } from '../../core/logger.ts'

/** Shared helpers of the integration tests: the real stack, unique names, a real consumer. */

export async function stack(): Promise<StackEnv> {
  return ensureStack()
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`
}

export async function sql(env: StackEnv, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
  await client.connect()
  try {
    return await client.query(text, params)
  } finally {
    await client.end()
  }
}

/** Test consumers and admins get kafkajs as the daemon does: through rowcast's install of its fast paths. */
export function kafkaClient(env: StackEnv): KafkaClient {
  const { Kafka, logLevel } = loadKafkajs()
  return new Kafka({ clientId: 'rowcast-test', brokers: [env.KAFKA_BOOTSTRAP_PLAINTEXT], logLevel: logLevel.NOTHING })
}

/** Creates topics (and waits for their leaders); `configs` are topic configs, e.g. { 'max.message.bytes': '65536' }. */
export async function createTopics(env: StackEnv, topics: string[], partitions = 3, configs: Record<string, string> = {}): Promise<void> {
  const admin = kafkaClient(env).admin()
  await admin.connect()
  try {
    const configEntries = Object.entries(configs).map(([name, value]) => ({ name, value }))
    const request = { topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1, configEntries })), waitForLeaders: false }
    // Right after a broker restart its metadata may still answer NOT_LEADER_OR_FOLLOWER (retriable), which kafkajs'
    // createTopics does not retry: try again for a while (a topic created by an earlier try already exists).
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.createTopics(request)
        break
      } catch (error) {
        const { retriable, type } = error as { retriable?: boolean; type?: string }
        if (type === 'TOPIC_ALREADY_EXISTS') break
        if (retriable !== true || attempt >= 30) throw error
        await new Promise((resolve) => setTimeout(resolve, 1_000))
      }
    }
    // kafkajs' waitForLeaders retries only LEADER_NOT_AVAILABLE, but a just-created topic may briefly be
    // UNKNOWN_TOPIC_OR_PARTITION in the metadata of a busy broker: poll until every partition has a leader.
    await eventually(
      () => admin.fetchTopicMetadata({ topics }).then((m) => m.topics, () => []),
      (meta) => meta.length === topics.length && meta.every((t) => t.partitions.length === partitions && t.partitions.every((p) => p.leader >= 0)),
      30_000,
      `topics ${topics.join(', ')} to have leaders`,
    )
  } finally {
    await admin.disconnect()
  }
}

export interface Received {
  topic: string
  partition: number
  offset: string
  key: string | null
  value: string
  headers: Record<string, string>
}

/** A real consumer reading topics from the beginning; `waitFor(n)` resolves once n messages arrived. */
export async function consume(env: StackEnv, topics: string[], options: { readCommitted?: boolean } = {}): Promise<{ messages: Received[]; waitFor(count: number, timeoutMs?: number): Promise<Received[]>; stop(): Promise<void> }> {
  const consumer: Consumer = kafkaClient(env).consumer({ groupId: uniqueName('test'), readUncommitted: options.readCommitted === false })
  const messages: Received[] = []
  try {
    await consumer.connect()
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = v.toString()
        messages.push({ topic, partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value?.toString() ?? '', headers })
      },
    })
  } catch (error) {
    await consumer.disconnect().catch(() => undefined) // its connections would keep the file's process alive
    throw error
  }
  return {
    messages,
    async waitFor(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} messages, got ${messages.length}: ${JSON.stringify(messages.slice(0, 5))}`)
        await new Promise((r) => setTimeout(r, 100))
      }
      return messages
    },
    stop: () => consumer.disconnect(),
  }
}

/**
 * This test file's stream group (the slot and lock of its shared syncs): files running side by side never share
 * one (the group lock would make one wait); a test that needs its own replaces the `streamGroup:` line.
 */
export const TEST_GROUP = uniqueName('grp')

/**
 * The YAML of a config on the stack (heartbeat and status every second), with the syncs given; `destination`
 * is added under `destination:` (e.g. `progressTopic`), `root` at the top level (e.g. `http:`, `limits:`).
 */
export function configYaml(env: StackEnv, syncYaml: string, extra: { destination?: string; root?: string } = {}): string {
  return `
source:
  postgres:
    url: ${env.ROWCAST_PG_URL}
    heartbeatIntervalMs: 1000
    statusIntervalMs: 1000
    streamGroup: { slot: ${TEST_GROUP} }
destination:
  kafka:
    clientId: rowcast-test
    brokers: "${env.KAFKA_BOOTSTRAP_PLAINTEXT}"
${extra.destination ?? ''}
${extra.root ?? ''}
syncs:
${syncYaml}
`
}

/** A parsed config for syncs on the stack; `extra` is top-level YAML (limits, http, …). */
export function configFor(env: StackEnv, syncYaml: string, extra = ''): RowcastConfig {
  return parseConfig(configYaml(env, syncYaml, { root: extra }), process.cwd())
}

/** Slots made by this test file's daemons: dropped when the file ends, so the suite never runs out of them. */
const usedSlots = new Set<string>()
/** Daemons started here: a test that failed before its own cleanup leaves one running, stopped when the file ends. */
const daemons: Daemon[] = []
after(async () => {
  await Promise.all(daemons.map((d) => d.stop().catch(() => undefined)))
  if (usedSlots.size === 0) return
  const env = await stack()
  await sql(env, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1) AND NOT active', [[...usedSlots]]).catch(() => undefined)
})

export async function runDaemon(config: RowcastConfig, options: DaemonOptions = {}): Promise<Daemon> {
  for (const sync of config.syncs) usedSlots.add(sync.stream === 'shared' ? config.source.postgres.streamGroup.slot : sync.slot ?? `rowcast_${sync.name}`)
  const daemon = await startDaemon(config, { logger: createLogger({ level: process.env.ROWCAST_TEST_LOG ?? 'warn' }), failedRetryMs: 1_000, ...options })
  daemons.push(daemon)
  describeOnHang(() => `a daemon started here: ${daemon.syncs.map((s) => `${s.name} ${s.state}`).join(', ')}`)
  return daemon
}

/** Waits until `predicate` holds, polling. */
export async function eventually<T>(probe: () => Promise<T> | T, predicate: (value: T) => boolean, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (predicate(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/** Waits until every sync of the daemon streams. */
export async function streaming(daemon: Daemon, timeoutMs = 30_000): Promise<void> {
  await eventually(() => daemon.syncs.map((s) => s.state), (states) => states.every((s) => s === 'streaming'), timeoutMs, 'syncs streaming')
}
