import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'
import { main } from '../../daemon/cli.ts'
import { configYaml, consume, createTopics, eventually, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { caughtUp, dropSyncs, memoryLogger, record, sleep } from '../support/sync-helpers.ts'

/**
 * A slot that vanished (dropped, invalidated) under a sync that has streamed before is a loud stop, never a
 * silent re-creation: the sync fails with PG_SLOT_LOST naming the gap, and goes on only when told
 * (`rowcast resync --sync NAME [--accept-gap]`). (A slot invalidated by max_slot_wal_keep_size, a server-wide
 * setting: slot-invalidated.test.ts, run alone.)
 */
describe('slot identity: a vanished slot is loud', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  async function setup(prefix: string) {
    const table = uniqueName(prefix)
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, pad text NOT NULL)`)
    await createTopics(env, [table], 1)
    // A slot of its own, rowcast_<sync>: the subject is that slot vanishing.
    const yaml = configYaml(env, `
  - name: ${table}
    stream: dedicated
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: { mapping: { id: id } }
`)
    const file = join(mkdtempSync(join(tmpdir(), 'rowcast-slot-')), 'rowcast.yaml')
    writeFileSync(file, yaml)
    return { table, slot: `rowcast_${table}`, file, config: parseConfig(yaml, process.cwd()) }
  }

  /** Rows of several KiB, as production has them. */
  const insert = (table: string, from: number, to: number) => sql(env, `INSERT INTO ${table} SELECT g, repeat(md5(g::text), 128) FROM generate_series(${from}, ${to}) g`)

  async function slotExists(slot: string): Promise<boolean> {
    return (await sql(env, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])).rowCount === 1
  }

  /** What the sync logged as its failure: code and message. */
  function failures(lines: () => Record<string, unknown>[]) {
    return lines().filter((l) => l.level === 50).map((l) => ({ code: l.code as string, msg: l.msg as string }))
  }

  test('a slot dropped under the running daemon: failed with PG_SLOT_LOST naming the gap, no new slot; --accept-gap goes on', { timeout: 120_000 }, async () => {
    const { table, slot, file, config } = await setup('slotdrop')
    const log = memoryLogger()
    const daemon = await runDaemon(config, { logger: log.logger })
    const states = record(daemon, 'state')
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await insert(table, 1, 20)
      await consumer.waitFor(20)
      await caughtUp(env, [table])
      await sleep(6_000) // the recorded position is kept at a bounded rate (every few seconds)

      // A DBA drops the slot: its walsender is terminated first (an active slot cannot be dropped).
      await eventually(async () => {
        await sql(env, 'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot])
        await sql(env, 'SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined)
        return slotExists(slot)
      }, (exists) => !exists, 20_000, 'the slot dropped')
      await insert(table, 21, 25) // committed right after the drop: no slot holds them

      await eventually(() => states.filter((s) => s.state === 'failed'), (f) => f.length > 0, 30_000, `sync failed (states: ${states.map((s) => s.state).join(',')}; logs: ${JSON.stringify(log.lines().slice(-5))})`)
      const failed = states.find((s) => s.state === 'failed')
      assert.equal(failed?.kind, 'slot-lost', 'the failure raises a slot-lost alert')
      assert.match(failed?.reason ?? '', /does not exist/)
      assert.match(failed?.reason ?? '', /confirmed up to [0-9A-F]+\/[0-9A-F]+/, 'the gap is named: from which position')
      assert.match(failed?.reason ?? '', /rowcast resync --sync \S+ --accept-gap/)
      assert.ok(failures(log.lines).some((f) => f.code === 'PG_SLOT_LOST'), `logged with code PG_SLOT_LOST: ${JSON.stringify(failures(log.lines))}`)
      await sleep(3_000) // retries (every 1 s here) stay loud: no slot is created meanwhile
      assert.equal(await slotExists(slot), false, 'no slot was re-created without being told')
      assert.equal(daemon.syncs[0].state, 'failed')
      assert.equal(consumer.messages.length, 20, 'nothing after the drop claims to be delivered')

      const out: string[] = []
      assert.equal(await main(['node', 'rowcast', 'resync', '--config', file, '--sync', table, '--accept-gap'], (l) => out.push(l)), 0, out.join('\n'))
      assert.match(out.join('\n'), /gap .*recorded/i)
      await streaming(daemon)
      await insert(table, 26, 30)
      await consumer.waitFor(25)
      assert.deepEqual(consumer.messages.slice(20).map((m) => Number(m.key)), [26, 27, 28, 29, 30], 'rows after the accepted gap arrive')
      const { rows } = await sql(env, 'SELECT accepted_gaps FROM _rowcast.sync_state WHERE sync = $1', [table])
      assert.equal((rows[0].accepted_gaps as unknown[]).length, 1, 'the loss is recorded in _rowcast.sync_state')
    } finally {
      await consumer.stop()
      await daemon.stop()
      await dropSyncs(env, [table])
    }
  })
})
