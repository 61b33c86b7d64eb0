/**
 * Connecting to the local stack's real Kafka listeners: PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 over SASL_PLAINTEXT
 * and SASL_SSL, TLS trust and host-name checks, a dead seed broker, and secrets kept out of every message.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { Admin, KafkaConfig } from 'kafkajs'
import { loadKafkajs } from '../../connectors/kafka/kafkajs/patch.ts'
import { checkKafka } from '../../connectors/kafka/check.ts'
import { toKafkaJsConfig } from '../../connectors/kafka/client-options.ts'
import { parseKafkaConfig, type KafkaConnectionConfig } from '../../connectors/kafka/config.ts'
import { translateKafkaError } from '../../connectors/kafka/errors.ts'
import { ConfigError, type RowcastError } from '../../core/errors.ts'
import { registerSecrets, secretsOf } from '../../core/secrets.ts'
import { ensureStack, type StackEnv } from '../../scripts/stack-env.ts'

const { Kafka } = loadKafkajs()
let env: StackEnv
let admin: Admin
const FAST_FAIL = { retries: 0 }
const PLANTED = `planted-${randomUUID()}`

/** Parsed and its secrets registered, as the daemon and the CLI do. */
function config(input: Record<string, unknown>): KafkaConnectionConfig {
  const parsed = parseKafkaConfig({ clientId: 'rowcast-kafka-auth-test', ...input }, process.cwd())
  registerSecrets(secretsOf(parsed))
  return parsed
}

/** PLAIN on the SASL_PLAINTEXT listener sends the password in clear: the config must say it accepts that. */
const overPlaintext = (mechanism: string) => (mechanism === 'plain' ? { allowPlaintextCredentials: true } : {})

function user(mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', password?: string) {
  const prefix = { plain: 'KAFKA_PLAIN', 'scram-sha-256': 'KAFKA_SCRAM256', 'scram-sha-512': 'KAFKA_SCRAM512' }[mechanism]
  return { mechanism, username: env[`${prefix}_USER`], password: password ?? env[`${prefix}_PASSWORD`] }
}

async function createTopic(): Promise<string> {
  const topic = `kafka-auth-${randomUUID()}`
  await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true })
  return topic
}

/** Produces one message with `cfg` and consumes it back with the same connection settings. */
async function roundTrip(cfg: KafkaConnectionConfig): Promise<void> {
  const topic = await createTopic()
  const kafka = new Kafka(toKafkaJsConfig(cfg))
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  const consumer = kafka.consumer({ groupId: `g-${randomUUID()}` })
  const value = `hello ${randomUUID()}`
  try {
    await producer.connect()
    await producer.send({ topic, messages: [{ key: 'k', value }] })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    const received = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 20 s')), 20_000)
      void consumer.run({ eachMessage: async ({ message }) => (clearTimeout(timer), resolve(String(message.value))) }).catch(reject)
    })
    assert.equal(received, value)
  } finally {
    await consumer.disconnect()
    await producer.disconnect()
  }
}

/** Connects a producer (no retries) and returns the translated error; fails if it connects. */
async function connectError(cfg: KafkaConnectionConfig): Promise<RowcastError> {
  const kafkaConfig: KafkaConfig = { ...toKafkaJsConfig(cfg), retry: FAST_FAIL }
  const producer = new Kafka(kafkaConfig).producer()
  try {
    await producer.connect()
  } catch (error) {
    return translateKafkaError(error, { ...(cfg.tls?.caSource ? { caSource: cfg.tls.caSource } : {}), ...(cfg.tls?.servername ? { servername: cfg.tls.servername } : {}) })
  } finally {
    await producer.disconnect()
  }
  assert.fail('expected the connection to fail')
}

before(async () => {
  env = await ensureStack()
  admin = new Kafka(toKafkaJsConfig(config({ brokers: env.KAFKA_BOOTSTRAP_PLAINTEXT }))).admin()
  await admin.connect()
})

after(async () => {
  await admin?.disconnect()
})

describe('SASL mechanisms, produce and consume', () => {
  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    test(`${mechanism} over SASL_PLAINTEXT`, async () => {
      await roundTrip(config({ brokers: env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT, auth: user(mechanism), ...overPlaintext(mechanism) }))
    })
    test(`${mechanism} over SASL_SSL with the stack's CA`, async () => {
      await roundTrip(config({ brokers: env.KAFKA_BOOTSTRAP_SASL_SSL, auth: user(mechanism), tls: { ca: env.KAFKA_CA_FILE } }))
    })
  }
})

describe('credentials over plaintext', () => {
  test('PLAIN on the SASL_PLAINTEXT listener is refused at config load, naming the path; allowed only when the config says so', async () => {
    assert.throws(() => config({ brokers: env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT, auth: user('plain', PLANTED) }), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error))
      assert.deepEqual(error.issues.map((i) => i.path), ['destination.kafka.auth.mechanism'])
      assert.match(error.issues[0].message, /clear text.*allowPlaintextCredentials: true/s)
      assert.ok(!error.message.includes(PLANTED))
      return true
    })
    await roundTrip(config({ brokers: env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT, auth: user('plain'), allowPlaintextCredentials: true }))
  })
})

describe('wrong password', () => {
  test('→ KAFKA_AUTH_FAILED from translateKafkaError, for every mechanism, and the password is never shown', async () => {
    for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
      const error = await connectError(config({ brokers: env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT, auth: user(mechanism, PLANTED), ...overPlaintext(mechanism) }))
      assert.equal(error.code, 'KAFKA_AUTH_FAILED', error.message)
      assert.equal(error.retriable, false)
      assert.ok(!error.message.includes(PLANTED))
    }
  })

  test('→ an authentication failure from checkKafka, quickly, not a timeout', async () => {
    const started = Date.now()
    const results = await checkKafka(config({ brokers: env.KAFKA_BOOTSTRAP_SASL_SSL, auth: user('scram-sha-512', PLANTED), tls: { ca: env.KAFKA_CA_FILE } }), ['some-topic'])
    const elapsed = Date.now() - started
    assert.ok(elapsed < 5_000, `took ${elapsed} ms`)
    const auth = results.find((r) => r.name === 'authentication')
    assert.equal(auth?.ok, false)
    assert.match(auth?.detail ?? '', /KAFKA_AUTH_FAILED/)
    assert.match(auth?.fix ?? '', /username\/password\/mechanism/)
    assert.ok(results.find((r) => r.name === `TLS ${env.KAFKA_BOOTSTRAP_SASL_SSL}`)?.ok, 'TLS itself was fine')
    assert.ok(!JSON.stringify(results).includes(PLANTED))
  })
})

describe('TLS', () => {
  test('no CA (system trust store) → KAFKA_TLS_UNTRUSTED', async () => {
    const error = await connectError(config({ brokers: env.KAFKA_BOOTSTRAP_SSL, tls: true }))
    assert.equal(error.code, 'KAFKA_TLS_UNTRUSTED', error.message)
    assert.match(error.message, /system trust store/)
  })

  test('the wrong CA → KAFKA_TLS_UNTRUSTED naming the CA file, also in checkKafka', async () => {
    const cfg = config({ brokers: env.KAFKA_BOOTSTRAP_SASL_SSL, auth: user('plain', PLANTED), tls: { ca: env.KAFKA_OTHER_CA_FILE } })
    const error = await connectError(cfg)
    assert.equal(error.code, 'KAFKA_TLS_UNTRUSTED', error.message)
    assert.ok(error.message.includes(env.KAFKA_OTHER_CA_FILE), error.message)
    const results = await checkKafka(cfg, [])
    const tls = results.find((r) => r.name.startsWith('TLS '))
    assert.equal(tls?.ok, false)
    assert.match(tls?.detail ?? '', /KAFKA_TLS_UNTRUSTED/)
    assert.ok(tls?.detail.includes(env.KAFKA_OTHER_CA_FILE))
    assert.ok(!JSON.stringify(results).includes(PLANTED) && !error.message.includes(PLANTED))
  })

  test('the right CA works (SSL listener, no SASL), by IP and by host name', async () => {
    await roundTrip(config({ brokers: env.KAFKA_BOOTSTRAP_SSL, tls: { ca: env.KAFKA_CA_FILE } }))
    const port = env.KAFKA_BOOTSTRAP_SSL.split(':')[1]
    const results = await checkKafka(config({ brokers: `localhost:${port}`, tls: { ca: env.KAFKA_CA_FILE } }), [])
    assert.ok(results.every((r) => r.ok), JSON.stringify(results))
  })

  test('a certificate for another host name is refused → KAFKA_TLS_HOSTNAME', async () => {
    const cfg = config({ brokers: env.KAFKA_BOOTSTRAP_SSL, tls: { ca: env.KAFKA_CA_FILE, servername: 'wrong.example' } })
    const error = await connectError(cfg)
    assert.equal(error.code, 'KAFKA_TLS_HOSTNAME', error.message)
    assert.match(error.message, /not valid for host wrong\.example/)
    const tls = (await checkKafka(cfg, [])).find((r) => r.name.startsWith('TLS '))
    assert.equal(tls?.ok, false)
    assert.match(tls?.detail ?? '', /KAFKA_TLS_HOSTNAME/)
  })
})

describe('brokers and topics', () => {
  test('several brokers with one dead still works', async () => {
    for (let i = 0; i < 3; i++) await roundTrip(config({ brokers: `127.0.0.1:1,${env.KAFKA_BOOTSTRAP_PLAINTEXT}` }))
  })

  test('checkKafka: one line per broker and per topic, missing topic named', async () => {
    const topic = await createTopic()
    const missing = `missing-${randomUUID()}`
    const results = await checkKafka(config({ brokers: `127.0.0.1:1,${env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT}`, auth: user('scram-sha-256') }), [topic, missing])
    const byName = new Map(results.map((r) => [r.name, r]))
    assert.equal(byName.get('broker 127.0.0.1:1')?.ok, false)
    assert.match(byName.get('broker 127.0.0.1:1')?.detail ?? '', /KAFKA_UNREACHABLE/)
    assert.equal(byName.get(`broker ${env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT}`)?.ok, true)
    assert.equal(byName.get('authentication')?.ok, true)
    assert.equal(byName.get(`topic ${topic}`)?.ok, true)
    assert.equal(byName.get(`topic ${missing}`)?.ok, false)
    assert.match(byName.get(`topic ${missing}`)?.detail ?? '', new RegExp(`${missing}.*KAFKA_TOPIC_MISSING`))
  })

  test('producing to a missing topic → KAFKA_TOPIC_MISSING naming it', async () => {
    const producer = new Kafka({ ...toKafkaJsConfig(config({ brokers: env.KAFKA_BOOTSTRAP_PLAINTEXT })), retry: { retries: 1, initialRetryTime: 50 } }).producer({ allowAutoTopicCreation: false })
    const topic = `missing-${randomUUID()}`
    try {
      await producer.connect()
      const error = await producer.send({ topic, messages: [{ value: 'x' }] }).then(() => assert.fail('expected failure'), (e: unknown) => translateKafkaError(e, { topic }))
      assert.equal(error.code, 'KAFKA_TOPIC_MISSING', error.message)
      assert.equal(error.retriable, true)
      assert.ok(error.message.includes(topic))
    } finally {
      await producer.disconnect()
    }
  })
})
