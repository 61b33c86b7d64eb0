import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { repoRoot } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'
import { consume, createTopics, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { caughtUp, finish, sleep } from '../support/sync-helpers.ts'

/** The README's outbox example, as written there (names made unique), on the real stack. */
function readmeOutbox(): { yaml: string; createTable: string } {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8')
  const block = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => /- name: outbox\n/.test(b))
  assert.ok(block !== undefined, 'the README has the outbox example')
  const createTable = /^# (CREATE TABLE outbox .*);$/m.exec(block)?.[1]
  assert.ok(createTable !== undefined, 'the example says how the table is made')
  return { yaml: block, createTable }
}

describe('the README\'s outbox example', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('inserted events go to the topic of their row with their key and payload; the deletes are not sent', async () => {
    const example = readmeOutbox()
    const name = uniqueName('outbox')
    const topics = [`${name}_orders`, `${name}_users`]
    await createTopics(env, topics, 1)
    await sql(env, example.createTable.replace('outbox', name))
    const yaml = example.yaml
      .replaceAll('${DATABASE_URL}', `"${env.ROWCAST_PG_URL}"`)
      .replaceAll('${KAFKA_BROKERS}', `"${env.KAFKA_BOOTSTRAP_PLAINTEXT}"`)
      .replace('public.outbox', `public.${name}`)
      .replace('name: outbox', `name: ${name}`)
      .replace(/(url: .*)\n/, `$1\n    heartbeatIntervalMs: 1000\n    statusIntervalMs: 1000\n    streamGroup: { slot: ${TEST_GROUP} }\n`) // the file's own group, not the default one
    const daemon = await runDaemon(parseConfig(yaml, process.cwd()))
    const consumer = await consume(env, topics)
    try {
      await streaming(daemon)
      const events = Array.from({ length: 12 }, (_, i) => ({ topic: topics[i % 2], key: `k${i % 3}`, payload: { n: i, pad: 'p'.repeat(3_000 + i) } }))
      for (let i = 0; i < events.length; i += 4) {
        // The writer's transaction: events in, then out (the same transaction, or the next one for half of them).
        const batch = events.slice(i, i + 4)
        const values = batch.map((_, j) => `($${3 * j + 1}, $${3 * j + 2}, $${3 * j + 3}::jsonb)`).join(', ')
        await sql(env, `WITH added AS (INSERT INTO ${name} (topic, key, payload) VALUES ${values} RETURNING id)
          DELETE FROM ${name} WHERE id IN (SELECT id FROM added WHERE id % 2 = 0)`, batch.flatMap((e) => [e.topic, e.key, JSON.stringify(e.payload)]))
        await sql(env, `DELETE FROM ${name}`)
      }
      await consumer.waitFor(events.length, 60_000)
      await caughtUp(env, [name])
      await sleep(500)
      assert.equal((await sql(env, `SELECT count(*)::int AS n FROM ${name}`)).rows[0].n, 0, 'the outbox is empty')
      for (const topic of topics) {
        const got = consumer.messages.filter((m) => m.topic === topic).map((m) => ({ key: m.key, payload: JSON.parse(m.value) as unknown }))
        assert.deepEqual(got, events.filter((e) => e.topic === topic).map((e) => ({ key: e.key, payload: e.payload })))
      }
      assert.equal(consumer.messages.length, events.length, 'nothing for the deletes')
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})
