// The local stack (scripts/stack.sh) really serves what .stack/env promises.
import { describe, test, before } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import type { Kafka, KafkaConfig, SASLOptions } from 'kafkajs'
import { loadKafkajs } from '../../connectors/kafka/kafkajs/patch.ts'
import { ensureStack, parseEnvText } from '../../scripts/stack-env.ts'
import type { StackEnv } from '../../scripts/stack-env.ts'

let env: StackEnv

before(async () => {
  env = await ensureStack()
})

function kafka(config: Omit<KafkaConfig, 'clientId' | 'logLevel'>): Kafka {
  const { Kafka, logLevel } = loadKafkajs()
  return new Kafka({ clientId: 'stack-test', logLevel: logLevel.NOTHING, connectionTimeout: 5000, retry: { retries: 0 }, ...config })
}

/** Connects an admin, asks for the cluster, and returns the advertised broker. */
async function describeCluster(config: Omit<KafkaConfig, 'clientId' | 'logLevel'>): Promise<string> {
  const admin = kafka(config).admin()
  await admin.connect()
  try {
    const cluster = await admin.describeCluster()
    return cluster.brokers.map((b) => `${b.host}:${b.port}`).join(',')
  } finally {
    await admin.disconnect()
  }
}

describe('PostgreSQL of the stack', () => {
  test('has logical WAL on its own port, and the rowcast role may replicate', async () => {
    const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await client.connect()
    try {
      assert.equal((await client.query('SHOW wal_level')).rows[0].wal_level, 'logical')
      assert.equal((await client.query('SHOW port')).rows[0].port, env.PG_PORT)
      assert.equal(env.PG_PORT, '55432')
      const role = await client.query('SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user')
      assert.deepEqual(role.rows[0], { rolsuper: true, rolreplication: true })
    } finally {
      await client.end()
    }
  })

  test('accepts replication connections from 127.0.0.1', async () => {
    // `replication` is a real pg option that @types/pg does not declare.
    const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL, replication: 'database' } as pg.ClientConfig)
    await client.connect()
    try {
      const result = await client.query('IDENTIFY_SYSTEM')
      assert.match(String(result.rows[0].xlogpos), /^[0-9A-F]+\/[0-9A-F]+$/)
    } finally {
      await client.end()
    }
  })

  test('has a login role without REPLICATION', async () => {
    const client = new pg.Client({ connectionString: env.PG_NOREPL_URL })
    await client.connect()
    try {
      const role = await client.query('SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user')
      assert.deepEqual(role.rows[0], { rolsuper: false, rolreplication: false })
    } finally {
      await client.end()
    }
  })
})

describe(`Kafka of the stack`, () => {
  test('PLAINTEXT listener answers and advertises 127.0.0.1', async () => {
    assert.equal(await describeCluster({ brokers: [env.KAFKA_BOOTSTRAP_PLAINTEXT] }), env.KAFKA_BOOTSTRAP_PLAINTEXT)
  })

  const mechanisms = [
    ['plain', 'KAFKA_PLAIN_USER', 'KAFKA_PLAIN_PASSWORD'],
    ['scram-sha-256', 'KAFKA_SCRAM256_USER', 'KAFKA_SCRAM256_PASSWORD'],
    ['scram-sha-512', 'KAFKA_SCRAM512_USER', 'KAFKA_SCRAM512_PASSWORD'],
  ] as const
  for (const [mechanism, userKey, passwordKey] of mechanisms) {
    const sasl = (): SASLOptions => ({ mechanism, username: env[userKey], password: env[passwordKey] }) as SASLOptions

    test(`SASL_PLAINTEXT with ${mechanism}`, async () => {
      assert.equal(await describeCluster({ brokers: [env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT], sasl: sasl() }), env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT)
    })

    test(`SASL_SSL with ${mechanism}, verified against KAFKA_CA_FILE`, async () => {
      const ssl = { ca: [readFileSync(env.KAFKA_CA_FILE, 'utf8')] }
      assert.equal(await describeCluster({ brokers: [env.KAFKA_BOOTSTRAP_SASL_SSL], ssl, sasl: sasl() }), env.KAFKA_BOOTSTRAP_SASL_SSL)
    })

    test(`SASL_PLAINTEXT with ${mechanism} rejects a wrong password`, async () => {
      const wrong = { mechanism, username: env[userKey], password: 'not-the-password' } as SASLOptions
      await assert.rejects(describeCluster({ brokers: [env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT], sasl: wrong }), /SASL|auth/i)
    })
  }

  test('SSL listener verifies against KAFKA_CA_FILE, for 127.0.0.1 and localhost', async () => {
    const ssl = { ca: [readFileSync(env.KAFKA_CA_FILE, 'utf8')] }
    assert.equal(await describeCluster({ brokers: [env.KAFKA_BOOTSTRAP_SSL], ssl }), env.KAFKA_BOOTSTRAP_SSL)
    const port = env.KAFKA_BOOTSTRAP_SSL.split(':')[1]
    const admin = kafka({ brokers: [`localhost:${port}`], ssl }).admin()
    await admin.connect() // the SAN also covers DNS:localhost
    await admin.disconnect()
  })

  test('SSL listener is rejected when verified against the unrelated CA', async () => {
    const ssl = { ca: [readFileSync(env.KAFKA_OTHER_CA_FILE, 'utf8')] }
    await assert.rejects(describeCluster({ brokers: [env.KAFKA_BOOTSTRAP_SSL], ssl }), /certificate|self.signed|verify/i)
  })

  test('a transactional producer commits, and missing topics stay missing', async () => {
    const client = kafka({ brokers: [env.KAFKA_BOOTSTRAP_PLAINTEXT], retry: { retries: 3 } })
    const topic = `stack-test-${randomUUID()}`
    const admin = client.admin()
    await admin.connect()
    const producer = client.producer({ transactionalId: `stack-test-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 })
    const consumer = client.consumer({ groupId: `stack-test-${randomUUID()}`, readUncommitted: false })
    try {
      const missing = `stack-missing-${randomUUID()}`
      await assert.rejects(admin.fetchTopicMetadata({ topics: [missing] }))
      assert.ok(!(await admin.listTopics()).includes(missing), 'auto.create.topics.enable=false keeps missing topics missing')

      assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }), true)
      await producer.connect()
      const transaction = await producer.transaction()
      await transaction.send({ topic, messages: [{ key: 'k', value: 'committed' }] })
      await transaction.commit()

      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      const received = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no message within 30s')), 30_000)
        void consumer.run({
          eachMessage: async ({ message }) => {
            clearTimeout(timer)
            resolve(String(message.value))
          },
        })
      })
      assert.equal(received, 'committed')
      // One record plus the commit marker.
      const [offsets] = await admin.fetchTopicOffsets(topic)
      assert.equal(offsets.high, '2')
    } finally {
      await consumer.disconnect()
      await producer.disconnect()
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
      await admin.disconnect()
    }
  })
})

describe('.stack/env parsing', () => {
  test('reads plain, single-quoted and escaped values', () => {
    const parsed = parseEnvText(`# comment\nA=1\nB='two words'\nC='it'\\''s'\nexport D=x=y\n\nbad line\n`)
    assert.deepEqual(parsed, { A: '1', B: 'two words', C: "it's", D: 'x=y' })
  })

  test('env holds absolute paths that exist', () => {
    for (const key of ['KAFKA_CA_FILE', 'KAFKA_OTHER_CA_FILE', 'KAFKA_LIB', 'PG_BIN'] as const) {
      assert.ok(env[key].startsWith('/'), `${key} is absolute`)
      assert.ok(existsSync(env[key]), `${key}=${env[key]} exists`)
    }
  })
})
