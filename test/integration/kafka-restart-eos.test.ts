import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, kafkaClient, sql, stack, uniqueName } from '../support/harness.ts'
import { checkDelivery } from '../support/delivery-check.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, stackCommand, startWriter, writeConfig } from '../support/rowcast-process.ts'

/**
 * A Kafka restart under an exactly-once sync, with writes going on: right after the restart the producer's epoch
 * is stale (INVALID_PRODUCER_EPOCH) or the coordinator not found yet. Those are transient: the sync is `degraded`
 * and recovers with a new producer, never `failed` (no fatal alert, no minute-long wait), and every change
 * arrives exactly once for a read_committed consumer.
 */
describe('Kafka restarted under an exactly-once sync', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('recovers without a failed state; every change exactly once', { timeout: 300_000 }, async () => {
    const table = uniqueName('eosrestart')
    const progressTopic = uniqueName('eosrestart_progress')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0, repeat('p', 3000) FROM generate_series(1, 200) g`)
    await createTopics(env, [table], 3)
    const admin = kafkaClient(env).admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: progressTopic, numPartitions: 1, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }], waitForLeaders: true })
    await admin.disconnect()
    const port = await freePort()
    const config = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    initialSync: skip
    delivery: exactly-once
    message: { mapping: { id: id, n: n, pad: pad } }
`, port, `  progressTopic: ${progressTopic}`)
    const proc = spawnRowcast(config, port)
    const states = new Set<string>()
    let watching = true
    const watcher = (async () => {
      while (watching) {
        const s = (await proc.states())?.[table]
        if (s !== undefined) states.add(s)
        await new Promise((r) => setTimeout(r, 300))
      }
    })()
    try {
      await eventually(() => proc.states(), (s) => s?.[table] === 'streaming', 60_000, `streaming (logs: ${proc.logs().slice(-2000)})`)
      const writer = startWriter(env, table, 200, 5)
      await new Promise((r) => setTimeout(r, 3_000))
      const outage = Date.now()
      try {
        await stackCommand('kafka-stop')
        await new Promise((r) => setTimeout(r, 5_000))
      } finally {
        await stackCommand('kafka-start')
      }
      await eventually(() => proc.states(), (s) => s?.[table] === 'streaming', 150_000, `streaming again (logs: ${proc.logs().slice(-3000)})`)
      const codes = new Set(proc.logs().match(/"code":"[A-Z_]+"/g) ?? [])
      console.log(`streaming again ${Date.now() - outage} ms after the outage began; states seen: ${[...states].join(', ')}; codes logged: ${[...codes].join(', ')}`)
      await new Promise((r) => setTimeout(r, 3_000))
      await writer.stop()
      watching = false
      await watcher
      assert.ok(!states.has('failed'), `the sync went failed:\n${proc.logs().split('\n').filter((l) => /"level":50/.test(l)).slice(-5).join('\n')}`)

      const { rows } = await sql(env, `SELECT id, n FROM ${table}`)
      const finals = new Map<number, number>(rows.map((r: { id: number; n: number }) => [r.id, r.n]))
      const expected = [...finals.values()].reduce((a, b) => a + b, 0)
      const consumer = await consume(env, [table], { readCommitted: true })
      try {
        await consumer.waitFor(expected, 120_000).catch(() => undefined)
        await new Promise((r) => setTimeout(r, 2_000))
        const report = checkDelivery(consumer.messages, finals)
        console.log(`written ${report.written}, delivered ${report.delivered}, duplicates ${report.duplicates}, missing ${report.missing.length}`)
        assert.deepEqual({ missing: report.missing.slice(0, 10), duplicates: report.duplicates, outOfOrder: report.outOfOrder.slice(0, 5) }, { missing: [], duplicates: 0, outOfOrder: [] })
      } finally {
        await consumer.stop()
      }
    } finally {
      watching = false
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, `rowcast_${table}`)
    }
  })
})
