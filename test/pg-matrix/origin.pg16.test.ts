import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import pg from 'pg'
import { consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, writeConfig } from '../support/rowcast-process.ts'

/**
 * source.postgres.origin: none (pgoutput's origin option, PostgreSQL 16+): changes applied under a replication
 * origin (what a subscriber, or another bidirectional node, does) are not streamed; local changes are.
 */

const PAD = 'z'.repeat(4_096)

describe('origin: none (PostgreSQL 16+)', () => {
  // A shared stream names the origin option in its group's START_REPLICATION, as a dedicated one does in its own.
  for (const stream of ['dedicated', 'shared'] as const) test(`stream: ${stream}: changes made under a replication origin are skipped, interleaved local ones arrive`, { timeout: 180_000 }, async () => {
    const env = await stack()
    const table = uniqueName('origin')
    const topic = uniqueName('origin')
    const originName = uniqueName('other_node')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, pad text NOT NULL)`)
    await createTopics(env, [topic], 1) // one partition: once 999 arrived, every change before it did
    const port = await freePort()
    const config = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    stream: ${stream}
    message: { mapping: { id: id, pad: pad } }
`, port)
    const slot = stream === 'shared' ? `${table}_group` : `rowcast_${table}`
    writeFileSync(config, readFileSync(config, 'utf8').replace(/(\n {4}url: [^\n]*\n)/, '$1    origin: none\n').replace(/^ {4}streamGroup: .*$/m, `    streamGroup: { slot: ${table}_group }`))
    assert.match(readFileSync(config, 'utf8'), /origin: none/)
    const proc = spawnRowcast(config, port)
    const local = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    const applied = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await local.connect()
    await applied.connect()
    try {
      await eventually(() => proc.states(), (s) => s?.[table] === 'streaming', 90_000, 'streaming').catch((error: Error) => {
        throw new Error(`${error.message}\n${proc.logs().slice(-3_000)}`)
      })
      // A session that applies changes from elsewhere marks them with its origin, as a subscriber's apply worker does.
      await applied.query('SELECT pg_replication_origin_create($1)', [originName])
      await applied.query('SELECT pg_replication_origin_session_setup($1)', [originName])
      for (let i = 1; i <= 40; i++) {
        await local.query(`INSERT INTO ${table} VALUES ($1, $2)`, [i, PAD])
        await applied.query(`INSERT INTO ${table} VALUES ($1, $2)`, [1000 + i, PAD])
      }
      await local.query(`INSERT INTO ${table} VALUES (999, $1)`, [PAD]) // the last change: once it arrived, all before it did
      const consumer = await consume(env, [topic])
      try {
        await eventually(() => consumer.messages, (m) => m.some((x) => x.key === '999'), 60_000, 'the last local change in Kafka')
        const ids = consumer.messages.map((m) => (JSON.parse(m.value) as { id: number }).id)
        const fromElsewhere = ids.filter((id) => id > 1000)
        console.log(`origin none (PostgreSQL ${env.PG_MAJOR}, stream: ${stream}): ${ids.length} messages; 41 local changes, 40 under origin ${originName}: ${fromElsewhere.length} of those streamed`)
        assert.deepEqual(fromElsewhere, [], 'no change made under a replication origin')
        assert.deepEqual([...new Set(ids)].sort((a, b) => a - b), [...Array.from({ length: 40 }, (_, i) => i + 1), 999], 'every local change')
      } finally {
        await consumer.stop()
      }
    } finally {
      await applied.query('SELECT pg_replication_origin_session_reset()').catch(() => undefined)
      await applied.query('SELECT pg_replication_origin_drop($1)', [originName]).catch(() => undefined)
      await local.end()
      await applied.end()
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, slot)
    }
  })
})
