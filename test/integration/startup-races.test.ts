import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import type { SyncState } from '../../core/telemetry.ts'
import { configFor, createTopics, eventually, runDaemon, sql, stack, uniqueName } from '../support/harness.ts'

/**
 * Several syncs starting together on a database that has no `_rowcast` schema yet: they all create it at once.
 * Before: CREATE SCHEMA/TABLE IF NOT EXISTS raced (a unique violation in pg_namespace for the loser), and that
 * sync went `failed` with a fatal alert for a minute. Now the setup is serialized under rowcast's advisory lock.
 */
describe('syncs starting together on a fresh database', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('none fails while they create rowcast\'s state schema (5 fresh databases, 4 syncs each)', { timeout: 300_000 }, async () => {
    for (let round = 0; round < 5; round++) {
      const database = uniqueName('fresh')
      await sql(env, `CREATE DATABASE ${database}`)
      const url = new URL(env.ROWCAST_PG_URL)
      url.pathname = `/${database}`
      const names = Array.from({ length: 4 }, () => uniqueName('race'))
      const fresh = { ...env, ROWCAST_PG_URL: url.toString() }
      for (const name of names) await sql(fresh, `CREATE TABLE ${name} (id int PRIMARY KEY, body text)`)
      await createTopics(env, names, 1)
      const config = configFor(fresh, names.map((name) => `  - name: ${name}\n    model: { table: public.${name} }\n    topic: ${name}\n    initialSync: skip\n    message: { mapping: { id: id } }\n`).join(''))
      const daemon = await runDaemon(config)
      const failures: string[] = []
      daemon.telemetry.on('state', (event: { sync: string; state: SyncState; reason?: string }) => {
        if (event.state === 'failed') failures.push(`${event.sync}: ${event.reason ?? ''}`)
      })
      try {
        await eventually(() => daemon.syncs.map((s) => s.state), (states) => failures.length > 0 || states.every((s) => s === 'streaming'), 60_000, 'every sync streaming')
        assert.deepEqual(failures, [], `round ${round}: a sync failed`)
      } finally {
        await daemon.stop()
        await sql(fresh, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database() AND NOT active').catch(() => undefined)
        await sql(env, `DROP DATABASE ${database} WITH (FORCE)`).catch(() => undefined)
      }
    }
  })
})
