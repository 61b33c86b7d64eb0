/**
 * The Kafka half of `rowcast check`: each broker reachable (TCP), its TLS certificate trusted (when tls is on),
 * authentication accepted, the brokers the cluster advertises reachable, and each configured topic present.
 * Fails fast: short timeouts and one retry, so a wrong password is reported as such in about a second.
 * Every detail is run through redactSecrets.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { Admin } from 'kafkajs'
import { loadKafkajs } from './kafkajs/patch.ts'
import type { CheckResult } from '../../core/check-result.ts'
import { redactSecrets } from '../../core/secrets.ts'
import { describeAuth } from './auth/mechanisms.ts'
import { tlsOptions, toKafkaJsConfig } from './client-options.ts'
import { splitBroker, type KafkaConnectionConfig } from './config.ts'
import { ERROR_CODES, type ErrorCode } from '../../core/error-codes.ts'
import { translateKafkaError, type KafkaErrorContext } from './errors.ts'

const CHECK_TIMEOUT_MS = 5_000
const CHECK_RETRY = { retries: 1, initialRetryTime: 100, maxRetryTime: 500 }

export async function checkKafka(config: KafkaConnectionConfig, topics: string[]): Promise<CheckResult[]> {
  const timeoutMs = Math.min(config.connectionTimeoutMs ?? CHECK_TIMEOUT_MS, CHECK_TIMEOUT_MS)
  const context: KafkaErrorContext = { ...(config.tls?.caSource ? { caSource: config.tls.caSource } : {}), ...(config.tls?.servername ? { servername: config.tls.servername } : {}) }
  const results: CheckResult[] = []
  for (const broker of config.brokers) results.push(...(await checkBroker(config, broker, timeoutMs, context)))

  const { Kafka } = loadKafkajs()
  const kafka = new Kafka({ ...toKafkaJsConfig(config), connectionTimeout: timeoutMs, authenticationTimeout: timeoutMs, requestTimeout: 2 * timeoutMs, retry: CHECK_RETRY })
  const admin = kafka.admin({ retry: CHECK_RETRY })
  try {
    await admin.connect()
    const cluster = await admin.describeCluster()
    results.push({ name: 'authentication', ok: true, detail: authDetail(config) })
    results.push(await checkAdvertised(config, cluster.brokers, timeoutMs, context))
    results.push(...(await checkTopics(admin, topics, context)))
  } catch (error) {
    const translated = translateKafkaError(error, context)
    results.push(failure('authentication', translated.message, translated.code))
    for (const topic of topics) results.push({ name: `topic ${topic}`, ok: false, detail: 'not checked: could not connect to the cluster', ...(translated.code === 'KAFKA_UNREACHABLE' ? { unreachable: true } : {}) })
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
  return results.map((r) => ({ ...r, detail: redactSecrets(r.detail), ...(r.fix ? { fix: redactSecrets(r.fix) } : {}) }))
}

async function checkBroker(config: KafkaConnectionConfig, broker: string, timeoutMs: number, context: KafkaErrorContext): Promise<CheckResult[]> {
  const { host, port } = splitBroker(broker)
  const tcp = await probe(() => netConnect({ host, port }), 'connect', broker, timeoutMs)
  if (tcp) {
    const translated = translateKafkaError(tcp, context)
    return [failure(`broker ${broker}`, translated.message, translated.code)]
  }
  const results: CheckResult[] = [{ name: `broker ${broker}`, ok: true, detail: 'reachable' }]
  if (config.tls) {
    const tls = config.tls
    const failed = await probe(() => tlsConnect({ host, port, ...(tls.servername || isIP(host) ? {} : { servername: host }), ...tlsOptions(tls) }), 'secureConnect', broker, timeoutMs)
    if (failed) {
      const translated = translateKafkaError(failed, context)
      results.push(failure(`TLS ${broker}`, translated.message, translated.code))
    } else {
      results.push({ name: `TLS ${broker}`, ok: true, detail: `certificate valid for ${tls.servername ?? host}, trusted by ${tls.caSource ?? 'the system trust store'}` })
    }
  }
  return results
}

/** Producing talks to the brokers the cluster advertises, which may differ from the seed list. */
async function checkAdvertised(config: KafkaConnectionConfig, brokers: Array<{ host: string; port: number }>, timeoutMs: number, context: KafkaErrorContext): Promise<CheckResult> {
  const problems: string[] = []
  for (const { host, port } of brokers) {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    if (config.brokers.includes(address)) continue
    const failed = await probe(() => netConnect({ host, port }), 'connect', address, timeoutMs)
    if (failed) problems.push(translateKafkaError(failed, context).message)
  }
  const list = brokers.map((b) => `${b.host}:${b.port}`).join(', ')
  if (problems.length === 0) return { name: 'cluster', ok: true, detail: `${brokers.length} broker(s) advertised: ${list}` }
  return { name: 'cluster', ok: false, detail: `advertised brokers unreachable: ${problems.join('; ')}`, fix: 'the brokers\' advertised.listeners must be reachable from here' }
}

async function checkTopics(admin: Admin, topics: string[], context: KafkaErrorContext): Promise<CheckResult[]> {
  if (topics.length === 0) return []
  const existing = new Set(await admin.listTopics())
  const results: CheckResult[] = []
  for (const topic of topics) {
    if (!existing.has(topic)) {
      results.push(failure(`topic ${topic}`, `topic ${topic} does not exist on the Kafka cluster`, 'KAFKA_TOPIC_MISSING'))
      continue
    }
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
      const partitions = metadata.topics[0]?.partitions.length ?? 0
      results.push({ name: `topic ${topic}`, ok: true, detail: `exists, ${partitions} partition(s)` })
    } catch (error) {
      const translated = translateKafkaError(error, { ...context, topic })
      results.push(failure(`topic ${topic}`, translated.message, translated.code))
    }
  }
  return results
}

function authDetail(config: KafkaConnectionConfig): string {
  const auth = config.auth
  if (auth === undefined) return 'none configured; the cluster accepted the connection'
  return `${describeAuth(auth)} accepted`
}

function failure(name: string, detail: string, code: ErrorCode): CheckResult {
  return { name, ok: false, detail: `${detail} [${code}]`, fix: ERROR_CODES[code].hint, ...(code === 'KAFKA_UNREACHABLE' ? { unreachable: true } : {}) }
}

/** Opens a socket, waits for `event`, closes it. Resolves with the error (code set, broker named) or undefined. */
function probe(open: () => Socket, event: 'connect' | 'secureConnect', broker: string, timeoutMs: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = open()
    const done = (error?: Error) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(error === undefined ? undefined : Object.assign(error, { broker }))
    }
    const timer = setTimeout(() => done(Object.assign(new Error(`connection timeout after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs)
    socket.once(event, () => done())
    socket.once('error', (error) => done(error))
  })
}
