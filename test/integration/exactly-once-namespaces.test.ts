import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'
import { configYaml, consume, createTopics, eventually, kafkaClient, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { record, sleep } from '../support/sync-helpers.ts'

/**
 * Exactly-once progress belongs to one source: two deployments with the same sync name on one Kafka (a
 * database per tenant) never read each other's progress. Without a namespace of its own, the second one
 * stops loudly instead of skipping what the other recorded; with one, both deliver everything.
 */
describe('exactly-once: progress namespaced and tied to its source', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  async function sqlAt(url: string, text: string): Promise<void> {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      await client.query(text)
    } finally {
      await client.end()
    }
  }

  test('two same-named syncs from two databases on one Kafka: a shared key fails loudly; with namespaces both deliver everything', { timeout: 180_000 }, async () => {
    const name = uniqueName('tenant')
    const database = uniqueName('tenantdb')
    await sql(env, `CREATE DATABASE ${database}`)
    const urlA = env.ROWCAST_PG_URL
    const urlB = urlA.replace(/\/[^/?]+(\?|$)/, `/${database}$1`)
    const progressTopic = uniqueName('eos_progress')
    const admin = kafkaClient(env).admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: progressTopic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }], waitForLeaders: true })
    await admin.disconnect()
    await createTopics(env, [`${name}_a`, `${name}_b`], 1)
    for (const url of [urlA, urlB]) await sqlAt(url, `CREATE TABLE ${name} (id int PRIMARY KEY, n int NOT NULL)`)
    const configOf = (url: string, side: 'a' | 'b', namespace?: string) =>
      parseConfig(configYaml(env, `
  - name: ${name}
    model: { table: public.${name} }
    topic: ${name}_${side}
    slot: ${name}_${side}
    key: id
    delivery: exactly-once
    message: { mapping: { id: id, n: n } }
`, { destination: `  progressTopic: ${progressTopic}${namespace === undefined ? '' : `\n  exactlyOnce: { namespace: ${namespace} }`}` }).replace(urlA, url), process.cwd())
    const insert = (url: string, from: number, to: number) => sqlAt(url, `INSERT INTO ${name} SELECT g, g FROM generate_series(${from}, ${to}) g`)
    const consumerA = await consume(env, [`${name}_a`], { readCommitted: true })
    const consumerB = await consume(env, [`${name}_b`], { readCommitted: true })
    try {
      // B starts once (its slot now holds what its database commits), then stops; 50 rows wait in its slot.
      let daemon = await runDaemon(configOf(urlB, 'b'))
      await streaming(daemon)
      await daemon.stop()
      await insert(urlB, 1, 50)
      // A, same sync name, same Kafka: delivers its rows and records its progress (positions past B's rows).
      daemon = await runDaemon(configOf(urlA, 'a'))
      await streaming(daemon)
      await insert(urlA, 1, 50)
      await consumerA.waitFor(50)
      await sleep(1_500)
      await daemon.stop()

      // B again, without a namespace of its own: A's progress is not B's. It stops loudly, skipping nothing silently.
      daemon = await runDaemon(configOf(urlB, 'b'))
      const states = record(daemon, 'state')
      try {
        await eventually(() => states.filter((s) => s.state === 'failed'), (f) => f.length > 0, 30_000, `B failed loudly (states: ${states.map((s) => `${s.state} ${s.reason ?? ''}`).join('; ')}; B received ${consumerB.messages.length})`)
        assert.match(states.find((s) => s.state === 'failed')?.reason ?? '', /another source.*destination\.exactlyOnce\.namespace/s)
      } finally {
        await daemon.stop()
      }

      // With namespaces, each deployment has its own progress and transactional id: both deliver everything, once.
      const daemonB = await runDaemon(configOf(urlB, 'b', 'tenant-b'))
      const daemonA = await runDaemon(configOf(urlA, 'a'))
      try {
        await streaming(daemonB)
        await streaming(daemonA)
        await insert(urlB, 51, 60)
        await insert(urlA, 51, 60)
        await consumerB.waitFor(60)
        await consumerA.waitFor(60)
        await sleep(2_000) // duplicates, if any, would arrive by now
        const ids = (messages: { key: string | null }[]) => messages.map((m) => Number(m.key)).sort((x, y) => x - y)
        const all = Array.from({ length: 60 }, (_, i) => i + 1)
        assert.deepEqual(ids(consumerB.messages), all, 'B: every row of its database, once')
        assert.deepEqual(ids(consumerA.messages), all, 'A: every row of its database, once')
      } finally {
        await daemonA.stop()
        await daemonB.stop()
      }
    } finally {
      await consumerA.stop()
      await consumerB.stop()
      await sql(env, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1) AND NOT active', [[`${name}_a`, `${name}_b`]]).catch(() => undefined)
      await sql(env, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined)
    }
  })
})
