import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { translateKafkaError } from '../../../connectors/kafka/errors.ts'
import { RowcastError } from '../../../core/errors.ts'
import { registerSecret } from '../../../core/secrets.ts'

// The real kafkajs error classes and protocol error table (CommonJS; not all detectable as ESM named exports).
const require = createRequire(import.meta.url)
const kafkajs = require('kafkajs') as Record<string, new (...args: unknown[]) => Error>
const { errorCodes } = require('kafkajs/src/protocol/error.js') as { errorCodes: Array<{ type: string; code: number; retriable: boolean; message: string }> }
const protocolError = (type: string) => new kafkajs.KafkaJSProtocolError(errorCodes.find((e) => e.type === type))
const afterRetries = (cause: Error) => new kafkajs.KafkaJSNumberOfRetriesExceeded(cause, { retryCount: 5, retryTime: 1000, cause })
const connectionError = (message: string, code?: string) => new kafkajs.KafkaJSConnectionError(`Connection error: ${message}`, { broker: 'b1:9093', code })

describe('translateKafkaError', () => {
  test('a stale producer epoch (after a broker restart) is retriable by a new producer, not fatal', () => {
    const producerFenced = Object.assign(new Error('There is a newer producer with the same transactionalId'), { type: 'PRODUCER_FENCED', retriable: false }) // newer than kafkajs' table
    for (const [type, cause] of [['INVALID_PRODUCER_EPOCH', protocolError('INVALID_PRODUCER_EPOCH')], ['PRODUCER_FENCED', producerFenced]] as const) {
      const error = translateKafkaError(afterRetries(cause))
      assert.equal(error.code, 'KAFKA_PRODUCER_FENCED', type)
      assert.equal(error.retriable, true, type)
    }
  })

  test('a coordinator not found yet (brokers starting) is retriable', () => {
    const notFound = new kafkajs.KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator')
    assert.equal(translateKafkaError(notFound).code, 'KAFKA_COORDINATOR_UNAVAILABLE')
    assert.equal(translateKafkaError(notFound).retriable, true)
    assert.equal(translateKafkaError(protocolError('NOT_COORDINATOR_FOR_GROUP')).retriable, true)
    assert.equal(translateKafkaError(new Error('Failed to find transaction coordinator')).code, 'KAFKA_COORDINATOR_UNAVAILABLE')
  })

  test('SASL failure → KAFKA_AUTH_FAILED, not retriable', () => {
    const error = translateKafkaError(new kafkajs.KafkaJSSASLAuthenticationError('SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials'))
    assert.equal(error.code, 'KAFKA_AUTH_FAILED')
    assert.equal(error.retriable, false)
    assert.match(error.message, /check the username\/password\/mechanism/)
  })

  test('SaslAuthenticate protocol error and unsupported mechanism are auth failures too', () => {
    assert.equal(translateKafkaError(afterRetries(protocolError('SASL_AUTHENTICATION_FAILED'))).code, 'KAFKA_AUTH_FAILED')
    assert.equal(translateKafkaError(protocolError('UNSUPPORTED_SASL_MECHANISM')).code, 'KAFKA_AUTH_FAILED')
  })

  test('untrusted certificate names the CA file (or the system store)', () => {
    const cause = connectionError('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN')
    const withCa = translateKafkaError(afterRetries(cause), { caSource: '/etc/rowcast/ca.pem' })
    assert.equal(withCa.code, 'KAFKA_TLS_UNTRUSTED')
    assert.equal(withCa.retriable, false)
    assert.match(withCa.message, /broker b1:9093 is not trusted by the CA in \/etc\/rowcast\/ca\.pem/)
    assert.match(translateKafkaError(cause).message, /system trust store/)
    assert.equal(translateKafkaError(connectionError('unable to verify the first certificate', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')).code, 'KAFKA_TLS_UNTRUSTED')
  })

  test('host name mismatch → KAFKA_TLS_HOSTNAME naming the host', () => {
    const error = translateKafkaError(connectionError("Hostname/IP does not match certificate's altnames: Host: wrong.example. is not in the cert's altnames: DNS:localhost", 'ERR_TLS_CERT_ALTNAME_INVALID'))
    assert.equal(error.code, 'KAFKA_TLS_HOSTNAME')
    assert.match(error.message, /not valid for host wrong\.example:/)
  })

  test('refused, timed out, closed → KAFKA_UNREACHABLE, retriable', () => {
    for (const cause of [
      connectionError('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED'),
      new kafkajs.KafkaJSConnectionError('Connection timeout', { broker: 'b1:9093' }),
      new kafkajs.KafkaJSConnectionClosedError('Closed connection', { host: 'b1', port: 9093 }),
      new kafkajs.KafkaJSRequestTimeoutError('Request Metadata(key: 3, version: 6) timed out', { broker: 'b1:9093' }),
    ]) {
      const error = translateKafkaError(afterRetries(cause))
      assert.equal(error.code, 'KAFKA_UNREACHABLE', cause.message)
      assert.equal(error.retriable, true)
      assert.match(error.message, /b1:9093/)
    }
  })

  test('TLS against a plaintext listener says so', () => {
    const error = translateKafkaError(connectionError('Client network socket disconnected before secure TLS connection was established', 'ECONNRESET'))
    assert.equal(error.code, 'KAFKA_UNREACHABLE')
    assert.match(error.message, /plaintext while tls is on/)
  })

  test('unknown topic → KAFKA_TOPIC_MISSING naming the topic, retriable; with a partition → KAFKA_PARTITION_MISSING', () => {
    const topic = translateKafkaError(afterRetries(protocolError('UNKNOWN_TOPIC_OR_PARTITION')), { topic: 'orders' })
    assert.equal(topic.code, 'KAFKA_TOPIC_MISSING')
    assert.equal(topic.retriable, true)
    assert.match(topic.message, /topic orders does not exist/)
    const partition = translateKafkaError(protocolError('UNKNOWN_TOPIC_OR_PARTITION'), { topic: 'orders', partition: 7 })
    assert.equal(partition.code, 'KAFKA_PARTITION_MISSING')
    assert.equal(partition.retriable, false)
  })

  test('message too large → KAFKA_MESSAGE_TOO_LARGE, not retriable', () => {
    const error = translateKafkaError(protocolError('MESSAGE_TOO_LARGE'), { topic: 'big' })
    assert.equal(error.code, 'KAFKA_MESSAGE_TOO_LARGE')
    assert.equal(error.retriable, false)
  })

  test('ACL denial → KAFKA_NOT_AUTHORIZED', () => {
    assert.equal(translateKafkaError(protocolError('TOPIC_AUTHORIZATION_FAILED'), { topic: 't' }).code, 'KAFKA_NOT_AUTHORIZED')
  })

  test('other protocol errors keep kafkajs\'s retriable flag; unknown errors are not retriable', () => {
    const leader = translateKafkaError(afterRetries(protocolError('LEADER_NOT_AVAILABLE')))
    assert.deepEqual([leader.code, leader.retriable], ['KAFKA_ERROR', true])
    const invalid = translateKafkaError(protocolError('INVALID_REQUIRED_ACKS'))
    assert.deepEqual([invalid.code, invalid.retriable], ['KAFKA_ERROR', false])
    for (const unknown of [new Error('boom'), new kafkajs.KafkaJSError('generic, retriable by kafkajs default'), 'a string']) {
      const error = translateKafkaError(unknown)
      assert.deepEqual([error.code, error.retriable], ['KAFKA_ERROR', false])
    }
  })

  test('a RowcastError in the chain is passed through', () => {
    const own = new RowcastError('KAFKA_AWS_CREDENTIALS_MISSING', 'no creds')
    assert.equal(translateKafkaError(new kafkajs.KafkaJSNonRetriableError(own, { cause: own })), own)
  })

  test('messages never contain registered secrets', () => {
    registerSecret('hunter2-planted-secret')
    const error = translateKafkaError(new kafkajs.KafkaJSSASLAuthenticationError('SASL PLAIN authentication failed for password hunter2-planted-secret'))
    assert.doesNotMatch(error.message, /hunter2-planted-secret/)
    assert.match(error.message, /\[redacted\]/)
  })
})
