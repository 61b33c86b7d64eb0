import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { finalsOf, PAD, sharedSyncYaml } from '../support/stream-group-fixtures.ts'
import { allArrived, checkDelivery } from '../support/delivery-check.ts'
import { dropSlotWhenFree, restartPostgres } from '../support/rowcast-process.ts'

/**
 * A stream group: syncs with `stream: shared` read one replication slot through one walsender, each keeping
 * its own position. Here the test that limits the server's replication slots (and restarts PostgreSQL for it);
 * parking and SIGKILL, which disturb no other test, are in stream-group-park.test.ts (run beside the others).
 */

describe('stream group (stream: shared)', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  describe('with 4 replication slots free', () => {
    let limited = false
    before(async () => {
      // Only 4 slots more than the test stack holds now: 12 syncs with a slot each could not all start.
      const { rows } = await sql(env, 'SELECT count(*)::int AS n FROM pg_replication_slots')
      await sql(env, `ALTER SYSTEM SET max_replication_slots = ${(rows[0] as { n: number }).n + 4}`)
      limited = true
      await restartPostgres(0)
    })
    after(async () => {
      if (!limited) return
      await sql(env, 'ALTER SYSTEM RESET max_replication_slots')
      await restartPostgres(0)
    })

    test('12 syncs over 12 tables stream through one slot, each correct', { timeout: 120_000 }, async () => {
      const group = uniqueName('grp')
      const names = Array.from({ length: 12 }, (_, i) => uniqueName(`g${i}`))
      for (const name of names) {
        await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
        await sql(env, `INSERT INTO ${name} SELECT g, 0, '' FROM generate_series(1, 5) g`)
      }
      await createTopics(env, names, 1)
      const config = configFor(env, names.map((name) => sharedSyncYaml(name, name, name)).join(''))
      const daemon = await runDaemon({ ...config, source: { postgres: { ...config.source.postgres, streamGroup: { slot: group, parkAfterMs: 30_000 } } } })
      const consumer = await consume(env, names)
      try {
        await streaming(daemon, 60_000)
        // Each table its own changes: table i gets i + 1 rounds of updates, in transactions of several rows.
        for (const [i, name] of names.entries()) {
          for (let round = 0; round <= i; round++) await sql(env, `UPDATE ${name} SET n = n + 1, pad = $1`, [PAD])
          await sql(env, `INSERT INTO ${name} VALUES (6, 1, $1)`, [PAD])
        }
        const finals = new Map<string, Map<number, number>>()
        for (const name of names) finals.set(name, await finalsOf(env, name))
        const of = (topic: string) => consumer.messages.filter((m) => m.topic === topic)
        await eventually(() => names.every((name) => allArrived(of(name), finals.get(name)!)), (done) => done, 60_000, 'every sync to deliver its table')
        for (const name of names) {
          const report = checkDelivery(of(name), finals.get(name)!)
          assert.deepEqual({ missing: report.missing, outOfOrder: report.outOfOrder, duplicates: report.duplicates }, { missing: [], outOfOrder: [], duplicates: 0 }, `sync ${name}`)
          // Each sync sees its own table only.
          assert.equal(report.delivered, [...finals.get(name)!.values()].reduce((a, b) => a + b, 0), `sync ${name} delivered ${report.delivered}`)
        }
        const slots = await sql(env, 'SELECT slot_name FROM pg_replication_slots WHERE slot_name = $1 OR slot_name = ANY($2)', [group, names.map((n) => `rowcast_${n}`)])
        assert.deepEqual(slots.rows.map((r: { slot_name: string }) => r.slot_name), [group], 'one slot for the whole group')
        const senders = await sql(env, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name <> 'walreceiver'")
        assert.equal((senders.rows[0] as { n: number }).n, 1, 'one walsender')
      } finally {
        await consumer.stop()
        await daemon.stop()
        await dropSlotWhenFree(env, group)
      }
    })
  })
})
