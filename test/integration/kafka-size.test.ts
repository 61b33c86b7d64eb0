import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import type { StackEnv } from '../../scripts/stack-env.ts'
import type { TelemetryEvents } from '../../core/telemetry.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { checkDelivery, allArrived } from '../support/delivery-check.ts'
import { finish, record } from '../support/sync-helpers.ts'

/**
 * Record batches the broker accepts: each partition's part of a request fits its topic's own
 * max.message.bytes, a message over it is a row error, a dead letter over it still goes out; and an
 * idempotent request that fails is retried as it was (no OUT_OF_ORDER_SEQUENCE_NUMBER: kafka-retries.test.ts, which
 * freezes and kills the broker and so runs alone).
 */

const SMALL_TOPIC = { 'max.message.bytes': '65536' }

/** `count` random characters: incompressible, so sizes are what they say. */
const pad = (count: number) => randomBytes(count).toString('base64').slice(0, count)

async function finalsOf(env: StackEnv, table: string): Promise<Map<number, number>> {
  const result = await sql(env, `SELECT id, n FROM ${table}`)
  return new Map(result.rows.map((r: { id: number; n: number }) => [r.id, r.n]))
}

/** A table of (id, n, pad); `inline`: pad stays in the row (no TOAST: updates resend it; at most ~8 KB). */
async function table(env: StackEnv, prefix: string, inline = true): Promise<string> {
  const name = uniqueName(prefix)
  await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
  if (inline) await sql(env, `ALTER TABLE ${name} ALTER COLUMN pad SET STORAGE PLAIN`)
  return name
}

/** The reasons the sync failed for, first and count (a stuck sync fails again at every retry). */
function failures(states: readonly TelemetryEvents['state'][]): string {
  const failed = states.filter((s) => s.state === 'failed')
  return failed.length === 0 ? 'none' : `${failed.length}× ${failed[0].reason}`
}

function syncYaml(name: string, topic: string, extra = ''): string {
  return `
  - name: ${name}
    model: { table: public.${name} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, n: n, pad: pad } }
${extra}`
}

describe('record batches within the topic\'s max.message.bytes', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('(a) a backlog of 3,000 rows of ~2 KB to a topic with max.message.bytes=65536, written while rowcast was stopped: all delivered', { timeout: 180_000 }, async () => {
    const name = await table(env, 'size_backlog')
    await createTopics(env, [name], 3, SMALL_TOPIC)
    const config = configFor(env, syncYaml(name, name))
    let daemon = await runDaemon(config)
    await streaming(daemon)
    await daemon.stop() // the slot exists; what follows is backlog
    for (let first = 1; first <= 3_000; first += 100) {
      await sql(env, `INSERT INTO ${name} SELECT g, 1, $1 FROM generate_series(${first}, ${first + 99}) g`, [pad(2_000)])
    }
    const consumer = await consume(env, [name])
    daemon = await runDaemon(config)
    const states = record(daemon, 'state')
    try {
      const finals = await finalsOf(env, name)
      await eventually(() => consumer.messages, (m) => allArrived(m, finals), 90_000, 'the backlog in Kafka').catch(() => undefined)
      const report = checkDelivery(consumer.messages, finals)
      assert.deepEqual({ missing: report.missing.length, failures: failures(states) }, { missing: 0, failures: 'none' }, `${report.delivered} messages delivered`)
      assert.deepEqual(report.outOfOrder, [])
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('(b) one 200 KB row under onRowError: skip to that topic is skipped; the rows after it are delivered', { timeout: 90_000 }, async () => {
    const name = await table(env, 'size_skip', false)
    await createTopics(env, [name], 1, SMALL_TOPIC)
    const daemon = await runDaemon(configFor(env, syncYaml(name, name, '    onRowError: skip')))
    const rejected = record(daemon, 'rejected')
    const states = record(daemon, 'state')
    const consumer = await consume(env, [name])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${name} VALUES (1, 1, 'small')`)
      await sql(env, `INSERT INTO ${name} VALUES (2, 1, $1)`, [pad(200_000)])
      await sql(env, `INSERT INTO ${name} SELECT g, 1, 'after' FROM generate_series(3, 5) g`)
      await consumer.waitFor(4, 30_000).catch(() => undefined)
      assert.deepEqual({ keys: consumer.messages.map((m) => m.key), failures: failures(states) }, { keys: ['1', '3', '4', '5'], failures: 'none' })
      assert.deepEqual(rejected.map((r) => r.reason), ['too-large'])
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('(c) broker defaults: one transaction of 600 rows of 4 KiB to a one-partition topic is delivered whole', { timeout: 90_000 }, async () => {
    const name = await table(env, 'size_default')
    await createTopics(env, [name], 1)
    const daemon = await runDaemon(configFor(env, syncYaml(name, name)))
    const states = record(daemon, 'state')
    const consumer = await consume(env, [name])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${name} SELECT g, 1, $1 FROM generate_series(1, 600) g`, [pad(4_096)])
      const finals = await finalsOf(env, name)
      await eventually(() => consumer.messages, (m) => allArrived(m, finals), 45_000, '600 messages').catch(() => undefined)
      const report = checkDelivery(consumer.messages, finals)
      assert.deepEqual({ missing: report.missing.length, failures: failures(states) }, { missing: 0, failures: 'none' }, `${report.delivered} of 600 delivered`)
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('(d) the dead letter of an oversized row is too large for its topic too: sent without the row, and the sync goes on', { timeout: 90_000 }, async () => {
    const name = await table(env, 'size_dlq', false)
    const dlq = `${name}_dlq`
    await createTopics(env, [name], 1, SMALL_TOPIC)
    await createTopics(env, [dlq], 1, SMALL_TOPIC)
    const daemon = await runDaemon(configFor(env, syncYaml(name, name, `    onRowError: { deadLetter: { topic: ${dlq} } }`)))
    const states = record(daemon, 'state')
    const consumer = await consume(env, [name, dlq])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${name} VALUES (1, 1, 'small')`)
      await sql(env, `INSERT INTO ${name} VALUES (2, 1, $1)`, [pad(200_000)])
      await sql(env, `INSERT INTO ${name} SELECT g, 1, 'after' FROM generate_series(3, 5) g`)
      await consumer.waitFor(5, 30_000).catch(() => undefined)
      const on = (topic: string) => consumer.messages.filter((m) => m.topic === topic)
      assert.deepEqual({ keys: on(name).map((m) => m.key), dead: on(dlq).map((m) => m.key), failures: failures(states) }, { keys: ['1', '3', '4', '5'], dead: ['2'], failures: 'none' })
      const letter = JSON.parse(on(dlq)[0].value) as Record<string, unknown>
      assert.equal(letter.code, 'ROW_MESSAGE_TOO_LARGE')
      assert.equal(letter.row, null, 'the row is left out')
      assert.match(String(letter.omitted), /row and previous left out: .*max\.message\.bytes of 65536 of topic/)
      assert.match(String(letter.error), new RegExp(`max\\.message\\.bytes of 65536 of topic "${name}"`))
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})
