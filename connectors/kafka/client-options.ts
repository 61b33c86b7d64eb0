/**
 * Turns the validated Kafka connection config into kafkajs's `KafkaConfig`: brokers, client ID, TLS (always
 * verified, never `rejectUnauthorized: false`), SASL from the mechanism's own builder (`./auth/`), and retry settings for a daemon.
 */
import { connect as netConnect, isIP } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import type { ISocketFactory, KafkaConfig, logCreator } from 'kafkajs'
import { loadKafkajs } from './kafkajs/patch.ts'
import type { Logger } from '../../core/logger.ts'
import { KAFKA_CLIENT_BACKOFF } from '../../core/retry.ts'
import { redactSecrets } from '../../core/secrets.ts'
import { saslOptions } from './auth/mechanisms.ts'
import { splitBroker, type KafkaConnectionConfig, type KafkaTls } from './config.ts'

/** Backoff for a long-running producer: core's policy (300 ms doubling up to 30 s), 10 tries (about 2–3 minutes) per operation. */
export const DAEMON_RETRY = { initialRetryTime: KAFKA_CLIENT_BACKOFF.initialMs, maxRetryTime: KAFKA_CLIENT_BACKOFF.maxMs, retries: 10, factor: 0.2, multiplier: KAFKA_CLIENT_BACKOFF.multiplier ?? 2 }
export const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

/** Without a `logCreator`, kafkajs stays silent (its default writes to the console). */
export function toKafkaJsConfig(config: KafkaConnectionConfig, creator?: logCreator): KafkaConfig {
  const seeds = seedBrokers(config.brokers)
  const { logLevel } = loadKafkajs()
  return {
    clientId: config.clientId,
    brokers: seeds.brokers,
    ...(config.tls === undefined ? {} : { ssl: tlsOptions(config.tls) }),
    ...(config.auth === undefined ? {} : { sasl: saslOptions(config.auth) }),
    connectionTimeout: config.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
    authenticationTimeout: config.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
    requestTimeout: config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    retry: DAEMON_RETRY,
    ...(seeds.aliases.size === 0 ? {} : { socketFactory: aliasingSocketFactory(seeds.aliases) }),
    ...(creator === undefined ? { logLevel: logLevel.NOTHING } : { logCreator: creator, logLevel: logLevel.INFO }),
  }
}

/** kafkajs log entries into a pino logger (child `component: kafkajs`), secrets scrubbed. */
export function kafkaLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' })
  const { logLevel } = loadKafkajs()
  return () => ({ level, log }) => {
    const { message, timestamp: _timestamp, logger: _logger, ...extra } = log
    const text = redactSecrets(String(message))
    const fields = JSON.parse(redactSecrets(JSON.stringify(extra))) as Record<string, unknown>
    if (level === logLevel.ERROR) child.error(fields, text)
    else if (level === logLevel.WARN) child.warn(fields, text)
    else if (level === logLevel.INFO) child.info(fields, text)
    else child.debug(fields, text)
  }
}

/** TLS options for kafkajs and for check.ts's own probes: the given CA (or the system store), host name checked. */
export function tlsOptions(tls: KafkaTls): { ca?: string[]; servername?: string } {
  return {
    ...(tls.ca === undefined ? {} : { ca: [tls.ca] }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
  }
}

/**
 * kafkajs splits seed brokers on ':' so it cannot take `[::1]:9092`. Such seeds get a placeholder host name
 * that our socket factory maps back to the address. (Brokers learnt from metadata come as host+port and need none.)
 */
function seedBrokers(brokers: string[]): { brokers: string[]; aliases: Map<string, string> } {
  const aliases = new Map<string, string>()
  const out = brokers.map((broker) => {
    if (!broker.startsWith('[')) return broker
    const { host, port } = splitBroker(broker)
    const alias = `ipv6-${aliases.size}.rowcast-seed.invalid`
    aliases.set(alias, host)
    return `${alias}:${port}`
  })
  return { brokers: out, aliases }
}

function aliasingSocketFactory(aliases: Map<string, string>): ISocketFactory {
  return ({ host, port, ssl, onConnect }) => {
    const realHost = aliases.get(host) ?? host
    const socket = ssl
      ? tlsConnect({ host: realHost, port, ...(isIP(realHost) ? {} : { servername: realHost }), ...ssl }, onConnect)
      : netConnect({ host: realHost, port }, onConnect)
    socket.setKeepAlive(true, 60_000)
    return socket
  }
}
