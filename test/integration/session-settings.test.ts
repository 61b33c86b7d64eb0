import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, createTopics, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { backfilled, finish } from '../support/sync-helpers.ts'
import { kcatValues } from '../support/kcat.ts'

/**
 * Values do not depend on the role's or database's session settings: a dedicated role sets every one the other
 * way, and backfilled and streamed messages still carry the exact values.
 */
describe('session settings are pinned on every connection', () => {
  let env: StackEnv
  const role = uniqueName('settings')
  before(async () => {
    env = await stack()
    // SUPERUSER only so that it may use rowcast's existing state table; the settings are what this test is about.
    await sql(env, `CREATE ROLE ${role} LOGIN REPLICATION SUPERUSER PASSWORD '${role}'`)
    for (const setting of ["bytea_output = 'escape'", "DateStyle = 'SQL, DMY'", 'extra_float_digits = 0', "IntervalStyle = 'sql_standard'", "TimeZone = 'Asia/Kolkata'"]) {
      await sql(env, `ALTER ROLE ${role} SET ${setting}`)
    }
  })
  after(async () => {
    await sql(env, `REASSIGN OWNED BY ${role} TO CURRENT_USER; DROP OWNED BY ${role}; DROP ROLE ${role}`).catch(() => undefined)
  })

  test('bytea, timestamp, timestamptz, float8 and interval under a role set the other way', async () => {
    const table = uniqueName('settings')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, b bytea, ts timestamp, tz timestamptz, f float8, iv interval)`)
    const insert = `INSERT INTO ${table} VALUES ($1, '\\x0102ff'::bytea, '2026-01-02 03:04:05.123456', '2026-01-02 03:04:05.123456+00', 0.1::float8 + 0.2::float8, '1 day 02:03:04')`
    await sql(env, insert, [1]) // backfilled
    const topic = `${table}_t`
    await createTopics(env, [topic], 1)
    const url = new URL(env.ROWCAST_PG_URL)
    url.username = role
    url.password = role
    const config = configFor({ ...env, ROWCAST_PG_URL: url.toString() }, `
  - name: ${table}
    model: { table: public.${table} }
    initialSync: backfill
    topic: ${topic}
    message: { mapping: { id: id, b: b, ts: ts, tz: tz, f: f, iv: iv } }`)
    const daemon = await runDaemon(config)
    try {
      await streaming(daemon)
      await backfilled(env, [table]) // row 2 committed before the chunk is read would come twice (stream and chunk)
      await sql(env, insert, [2]) // streamed
      const values = await kcatValues(env, topic, 2)
      for (const [i, value] of values.entries()) {
        assert.equal(
          value,
          `{"id":${i + 1},"b":"AQL/","ts":"2026-01-02T03:04:05.123456","tz":"2026-01-02T03:04:05.123456Z","f":0.30000000000000004,"iv":"1 day 02:03:04"}`,
          `message ${i + 1} (${i === 0 ? 'backfilled' : 'streamed'})`,
        )
      }
    } finally {
      await finish(env, daemon)
    }
  })
})
