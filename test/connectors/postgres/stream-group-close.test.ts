import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import type { StackEnv } from '../../../scripts/stack-env.ts'
import { TRY_GROUP_LOCK_SQL } from '../../../connectors/postgres/advisory-locks.ts'
import { StreamGroup } from '../../../connectors/postgres/stream-group.ts'
import { createLogger } from '../../../core/logger.ts'
import { sql, stack, uniqueName } from '../../support/harness.ts'

/**
 * A stream group closed while it is still taking its lock (a daemon stopped while a shared sync starts) lets the
 * lock and its connection go (real PostgreSQL): kept, another daemon could never take the group over, and the
 * connection kept the stopped daemon's process alive.
 */
let env: StackEnv
const slots: string[] = []
before(async () => {
  env = await stack()
})
after(async () => {
  await sql(env, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY($1) AND NOT active', [slots])
})

async function lockIsFree(slot: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
  await client.connect()
  try {
    return (await client.query<{ locked: boolean }>(TRY_GROUP_LOCK_SQL, [slot])).rows[0].locked
  } finally {
    await client.end()
  }
}

for (const delayMs of [0, 5, 20, 60]) {
  test(`closed ${delayMs} ms into taking its lock, the group holds neither the lock nor a connection`, async () => {
    const slot = uniqueName('grpclose')
    slots.push(slot)
    const group = new StreamGroup({ url: env.ROWCAST_PG_URL, slot, syncs: ['a'], heartbeatIntervalMs: 1_000, statusIntervalMs: 1_000, parkAfterMs: 60_000, logger: createLogger({ level: 'silent' }) })
    let settled = false
    const acquiring = group.acquire(new AbortController().signal).finally(() => (settled = true))
    await new Promise((r) => setTimeout(r, delayMs))
    const closedFirst = !settled // else it took the lock before: close lets it go as any close does
    await group.close()
    const acquired = await acquiring.catch(() => false)
    if (closedFirst) assert.equal(acquired, false, 'the group says it holds its lock after it was closed')
    assert.equal(await lockIsFree(slot), true, 'the closed group still holds its lock (and its connection)')
  })
}
