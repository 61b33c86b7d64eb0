import { before, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'
import { configYaml, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'

/**
 * A shared sync whose table just joined the stream group's publication waits for the transactions that were
 * running then (a user's session left idle in one can hold it for hours). Stopping the daemon meanwhile ends
 * that wait: stop returns, and none of its connections is left behind waiting.
 */
let env: StackEnv
before(async () => {
  env = await stack()
})

test('stop while a shared sync waits for a transaction left open: stop returns and leaves no session', { timeout: 60_000 }, async () => {
  const [first, table] = [uniqueName('joinfirst'), uniqueName('joinstop')]
  const application = uniqueName('rowcast_joinstop')
  for (const t of [first, table]) await sql(env, `CREATE TABLE ${t} (id int PRIMARY KEY)`)
  // Its sessions are told apart by their application_name.
  const configOf = (t: string) => parseConfig(configYaml(env, `
  - name: ${t}
    model: { table: public.${t} }
    topic: ${t}
    message: { mapping: { id: id } }`).replace(`url: ${env.ROWCAST_PG_URL}`, `url: ${env.ROWCAST_PG_URL}?application_name=${application}`), process.cwd())
  // The group's slot first (its creation waits for running transactions too).
  const before = await runDaemon(configOf(first))
  await streaming(before)
  await before.stop()
  const open = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
  await open.connect()
  try {
    await open.query('BEGIN')
    await open.query(`INSERT INTO ${table} VALUES (1)`)
    const daemon = await runDaemon(configOf(table))
    const joined = async () => (await sql(env, 'SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND tablename = $2', [TEST_GROUP, table])).rowCount
    await eventually(joined, (n) => n === 1, 30_000, `${table} in the group's publication`)
    await new Promise((r) => setTimeout(r, 1_000)) // waiting for the open transaction now
    assert.equal(daemon.syncs[0].state, 'starting')
    const stopped = await Promise.race([daemon.stop().then(() => 'stopped'), new Promise((r) => setTimeout(() => r('not stopped within 15 s'), 15_000))])
    assert.equal(stopped, 'stopped')
    const sessions = async () => (await sql(env, 'SELECT pid, state, query FROM pg_stat_activity WHERE application_name = $1', [application])).rows
    const left = await eventually(sessions, (rows) => rows.length === 0, 5_000, 'the daemon\'s sessions gone').catch(() => sessions())
    assert.deepEqual(left, [], 'sessions of the stopped daemon are still open')
  } finally {
    await open.query('ROLLBACK').catch(() => undefined)
    await open.end()
  }
})
