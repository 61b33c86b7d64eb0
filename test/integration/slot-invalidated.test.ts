import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'
import { configYaml, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { caughtUp, dropSyncs, memoryLogger, record } from '../support/sync-helpers.ts'

/**
 * A slot invalidated by max_slot_wal_keep_size (set server-wide for the test: this file runs alone) while the
 * daemon was stopped is a loud stop, never a silent re-creation: the sync fails with PG_SLOT_LOST naming the gap
 * (slot-identity.test.ts: a slot dropped under the running daemon).
 */
describe('slot identity: an invalidated slot is loud', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  /** A sync reading its own slot (`dedicated`: rowcast_<sync>) or the file's stream group (`shared`, the default). */
  async function setup(prefix: string, stream: 'shared' | 'dedicated') {
    const table = uniqueName(prefix)
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, pad text NOT NULL)`)
    await createTopics(env, [table], 1)
    const yaml = configYaml(env, `
  - name: ${table}
    stream: ${stream}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: { mapping: { id: id } }
`)
    const file = join(mkdtempSync(join(tmpdir(), 'rowcast-slot-')), 'rowcast.yaml')
    writeFileSync(file, yaml)
    return { table, slot: stream === 'shared' ? TEST_GROUP : `rowcast_${table}`, file, config: parseConfig(yaml, process.cwd()) }
  }

  /** Rows of several KiB, as production has them. */
  const insert = (table: string, from: number, to: number) => sql(env, `INSERT INTO ${table} SELECT g, repeat(md5(g::text), 128) FROM generate_series(${from}, ${to}) g`)

  /** What the sync logged as its failure: code and message. */
  function failures(lines: () => Record<string, unknown>[]) {
    return lines().filter((l) => l.level === 50).map((l) => ({ code: l.code as string, msg: l.msg as string }))
  }

  /** Streams a few rows, stops, and has PostgreSQL invalidate the slot under max_slot_wal_keep_size. */
  async function invalidate(table: string, slot: string, config: ReturnType<typeof parseConfig>): Promise<void> {
    const first = await runDaemon(config)
    try {
      await streaming(first)
      await insert(table, 1, 10)
      await caughtUp(env, [table])
    } finally {
      await first.stop()
    }
    try {
      await sql(env, "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
      await sql(env, 'SELECT pg_reload_conf()')
      let next = 11
      await eventually(async () => {
        await insert(table, next, next + 299) // ~1.2 MB of WAL
        next += 300
        await sql(env, 'SELECT pg_switch_wal()')
        await sql(env, 'CHECKPOINT')
        return (await sql(env, 'SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1', [slot])).rows[0]?.wal_status as string
      }, (status) => status === 'lost', 60_000, 'the slot invalidated')
    } finally {
      await sql(env, 'ALTER SYSTEM RESET max_slot_wal_keep_size')
      await sql(env, 'SELECT pg_reload_conf()')
    }
  }

  /** Starts the daemon on the invalidated slot: its sync fails with PG_SLOT_LOST, the reason matching each of `reasons`, never streaming. */
  async function failsLoudly(table: string, config: ReturnType<typeof parseConfig>, reasons: RegExp[]): Promise<void> {
    const log = memoryLogger()
    const daemon = await runDaemon(config, { logger: log.logger })
    const states = record(daemon, 'state')
    try {
      await eventually(() => states.filter((s) => s.state === 'failed'), (f) => f.length > 0, 30_000, `sync failed (states: ${states.map((s) => `${s.state} ${s.reason ?? ''}`).join(', ')})`)
      const failed = states.find((s) => s.state === 'failed')
      for (const reason of reasons) assert.match(failed?.reason ?? '', reason)
      assert.ok(failures(log.lines).some((f) => f.code === 'PG_SLOT_LOST'), JSON.stringify(failures(log.lines)))
      assert.ok(!states.some((s) => s.state === 'streaming'), 'never streamed from a re-created slot')
    } finally {
      await daemon.stop()
      await dropSyncs(env, [table])
    }
  }

  test('a slot of its own invalidated by max_slot_wal_keep_size while the daemon was stopped: failed with PG_SLOT_LOST', { timeout: 180_000 }, async () => {
    const { table, slot, config } = await setup('slotlost', 'dedicated')
    await invalidate(table, slot, config)
    await failsLoudly(table, config, [/invalidated/, /confirmed up to [0-9A-F]+\/[0-9A-F]+/])
  })

  test('the stream group\'s slot invalidated while the daemon was stopped: its sync fails with PG_SLOT_LOST saying how to go on', { timeout: 180_000 }, async () => {
    const { table, slot, config } = await setup('grouplost', 'shared')
    await invalidate(table, slot, config)
    try {
      await failsLoudly(table, config, [new RegExp(`"${slot}" of the stream group was invalidated`), /pg_drop_replication_slot/])
    } finally {
      await sql(env, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot])
    }
  })
})
