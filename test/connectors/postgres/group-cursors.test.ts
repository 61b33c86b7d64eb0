import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { pino } from 'pino'
import { GroupCursors } from '../../../connectors/postgres/group-cursors.ts'
import { ensureStateTable } from '../../../connectors/postgres/sync-state.ts'
import type { StackEnv } from '../../../scripts/stack-env.ts'
import { sql, stack, uniqueName } from '../../support/harness.ts'

/** A stream group's cursors in _rowcast.sync_state, on the stack's PostgreSQL. */

let env: StackEnv
let client: pg.Client
const sync = uniqueName('gc')
const slot = uniqueName('gcslot')

before(async () => {
  env = await stack()
  client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
  await client.connect()
  await ensureStateTable(client)
  await client.query("INSERT INTO _rowcast.sync_state (sync, slot, confirmed_lsn) VALUES ($1, $2, '0/10')", [sync, slot])
})

after(async () => {
  await client.query('DELETE FROM _rowcast.sync_state WHERE sync = $1', [sync]).catch(() => undefined)
  await client.end()
})

test('a cursor whose write failed is written again on the next tick, without waiting for the sync to move again', async () => {
  const sent: bigint[] = []
  const cursors = await GroupCursors.load(client, { slot, syncs: [sync], slotStart: 0n, logger: pino({ level: 'silent' }), send: (lsn) => sent.push(lsn) })
  assert.equal(cursors.cursors.get(sync), 0x10n)
  // The write fails: its row is locked by another session, and the cursors' session gives up after 200 ms.
  const holder = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
  await holder.connect()
  try {
    await holder.query('BEGIN')
    await holder.query('SELECT 1 FROM _rowcast.sync_state WHERE sync = $1 FOR UPDATE', [sync])
    await client.query('SET statement_timeout = 200')
    cursors.changed(sync, 0x20n)
    await cursors.flush()
    assert.equal(cursors.cursors.get(sync), 0x10n, 'the failed write is not taken as written')
    await holder.query('COMMIT')
  } finally {
    await holder.end()
    await client.query('RESET statement_timeout')
  }
  cursors.tick(60_000)
  await cursors.flush()
  const { rows } = await sql(env, 'SELECT confirmed_lsn::text AS cursor FROM _rowcast.sync_state WHERE sync = $1', [sync])
  assert.equal((rows[0] as { cursor: string }).cursor, '0/20')
  assert.equal(cursors.cursors.get(sync), 0x20n)
  assert.ok(sent.includes(0x20n), 'the slot follows the written cursor')
})
