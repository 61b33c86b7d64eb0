import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { DAEMON_RETRY, kafkaLogCreator, toKafkaJsConfig } from '../../../connectors/kafka/client-options.ts'
import type { KafkaConnectionConfig } from '../../../connectors/kafka/config.ts'
import { registerSecret } from '../../../core/secrets.ts'
import { pino } from 'pino'
import { Writable } from 'node:stream'

const base: KafkaConnectionConfig = { clientId: 'rowcast-test', brokers: ['b1:9092', 'b2:9092'] }

describe('toKafkaJsConfig', () => {
  test('plaintext, no SASL: brokers, client ID, daemon retry, timeouts', () => {
    const config = toKafkaJsConfig(base)
    assert.deepEqual(config.brokers, ['b1:9092', 'b2:9092'])
    assert.equal(config.clientId, 'rowcast-test')
    assert.equal(config.ssl, undefined)
    assert.equal(config.sasl, undefined)
    assert.deepEqual(config.retry, DAEMON_RETRY)
    assert.equal(config.connectionTimeout, 10_000)
    assert.equal(config.requestTimeout, 30_000)
    assert.equal(toKafkaJsConfig({ ...base, connectionTimeoutMs: 1234, requestTimeoutMs: 5678 }).requestTimeout, 5678)
  })

  test('TLS: CA and servername passed on, verification never disabled', () => {
    const config = toKafkaJsConfig({ ...base, tls: { ca: 'PEM', caSource: '/x/ca.pem', servername: 'kafka.internal' } })
    assert.deepEqual(config.ssl, { ca: ['PEM'], servername: 'kafka.internal' })
    assert.deepEqual(toKafkaJsConfig({ ...base, tls: {} }).ssl, {}, 'system trust store')
    assert.equal(JSON.stringify(config).includes('rejectUnauthorized'), false)
  })

  test('SASL mechanisms map to kafkajs names', () => {
    for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
      assert.deepEqual(toKafkaJsConfig({ ...base, auth: { mechanism, username: 'u', password: 'p' } }).sasl, { mechanism, username: 'u', password: 'p' })
    }
    assert.equal(toKafkaJsConfig({ ...base, auth: { mechanism: 'aws-iam', authorizationIdentity: 'i', accessKeyId: 'k', secretAccessKey: 's' } }).sasl?.mechanism, 'aws')
    const msk = toKafkaJsConfig({ ...base, auth: { mechanism: 'aws-msk-iam', region: 'us-east-1', accessKeyId: 'k', secretAccessKey: 's' } }).sasl
    assert.equal(msk?.mechanism, 'oauthbearer')
  })

  test('IPv6 seed brokers get a placeholder name that the socket factory maps back', async (t) => {
    const server = createServer((socket) => socket.end('hi'))
    try {
      server.listen(0, '::1')
      await once(server, 'listening')
    } catch {
      t.skip('no IPv6 loopback on this machine')
      return
    }
    const { port } = server.address() as AddressInfo
    const config = toKafkaJsConfig({ ...base, brokers: [`[::1]:${port}`, 'b1:9092'] })
    const [seed, other] = config.brokers as string[]
    assert.match(seed, new RegExp(`^ipv6-0\\.rowcast-seed\\.invalid:${port}$`))
    assert.equal(other, 'b1:9092')
    const socket = config.socketFactory!({ host: seed.split(':')[0], port, ssl: undefined as never, onConnect: () => undefined })
    const [data] = await once(socket, 'data')
    assert.equal(String(data), 'hi')
    assert.equal(socket.remoteAddress, '::1')
    socket.destroy()
    server.close()
    assert.equal(toKafkaJsConfig(base).socketFactory, undefined, 'kafkajs default factory otherwise')
  })

  test('kafkaLogCreator writes to pino with secrets scrubbed', () => {
    registerSecret('log-planted-secret')
    const lines: string[] = []
    const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }))
    const log = kafkaLogCreator(logger)(4)
    log({ namespace: 'Connection', level: 1, label: 'ERROR', log: { timestamp: 'x', logger: 'kafkajs', message: 'failed with log-planted-secret', broker: 'b:1', extra: 'log-planted-secret' } as never })
    assert.equal(lines.length, 1)
    const entry = JSON.parse(lines[0])
    assert.equal(entry.level, 50)
    assert.equal(entry.component, 'kafkajs')
    assert.equal(entry.broker, 'b:1')
    assert.doesNotMatch(lines[0], /log-planted-secret/)
  })
})
