/**
 * Unchanged large values under the default replica identity (issue 14 item 5), on the real stack: an UPDATE that
 * leaves a TOASTed value unchanged gets it read back from the table by key (`model.unchangedToast: reselect`, the
 * default) with `onRowError: fail`; the message carries the value and says so in the `rowcast-reselected` header.
 */
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { runChecks } from '../../daemon/check.ts'
import { configFor, consume, createTopics, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { caughtUp, finish, record, sleep } from '../support/sync-helpers.ts'

/** ~22 KB of random hex per value: pglz cannot bring it under the 2 KB TOAST threshold, so it is stored out of line. */
const BIG = `(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 700))`

describe('unchanged TOASTed values under the default replica identity', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('an UPDATE leaving a large value unchanged carries the value, read back by key, one query per batch', async () => {
    const table = uniqueName('toast')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, doc text NOT NULL, tags jsonb, n int NOT NULL)`)
    await createTopics(env, [table], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    onRowError: fail
    message: { mapping: { id: id, doc: doc, tags: tags, n: n } }`)
    const daemon = await runDaemon(config)
    const states = record(daemon, 'state')
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} SELECT g, ${BIG}, ('{"big": "' || ${BIG} || '", "x": 1.10}')::jsonb, 0 FROM generate_series(1, 3) g`)
      const stored = await sql(env, `SELECT id, doc, tags::text AS tags, pg_column_size(doc) AS size FROM ${table} ORDER BY id`)
      for (const row of stored.rows) assert.ok(row.size > 2048, `doc of row ${row.id} is stored out of line (${row.size} bytes)`)
      await consumer.waitFor(3)
      // rowcast reads a value back when it processes the UPDATE, so it carries the row as of that read: each step
      // waits for the previous one's messages, or a lagging daemon would read the next step's state.
      await sql(env, `UPDATE ${table} SET n = n + 1`) // one transaction, three rows: one query reads them back
      await consumer.waitFor(6)
      await sql(env, `UPDATE ${table} SET n = 10, tags = '{"small": true}' WHERE id = 2`) // doc unchanged, tags new
      await consumer.waitFor(7)
      // A row deleted in the same transaction is gone when rowcast reads: that UPDATE has no current state to carry.
      await sql(env, `BEGIN; UPDATE ${table} SET n = 99 WHERE id = 3; DELETE FROM ${table} WHERE id = 3; COMMIT;`)
      await consumer.waitFor(8)
      await caughtUp(env, [table])
      await sleep(500)
      const got = consumer.messages.map((m) => ({ key: m.key, value: JSON.parse(m.value) as { id: number; doc: string; tags: unknown; n: number }, reselected: m.headers['rowcast-reselected'] }))
      const docs = new Map(stored.rows.map((r: { id: number; doc: string; tags: string }) => [r.id, r]))
      const expect = (id: number, n: number, reselected: string | undefined, tags: unknown = JSON.parse(docs.get(id)?.tags ?? 'null')) => ({
        key: String(id), value: { id, doc: docs.get(id)?.doc, tags, n }, reselected,
      })
      assert.deepEqual(got.slice(0, 3), [expect(1, 0, undefined), expect(2, 0, undefined), expect(3, 0, undefined)])
      assert.deepEqual(got.slice(3, 6), [expect(1, 1, 'doc,tags'), expect(2, 1, 'doc,tags'), expect(3, 1, 'doc,tags')])
      assert.deepEqual(got[6], expect(2, 10, 'doc', { small: true }))
      // PostgreSQL can stream a transaction a moment before other sessions see it committed: a read-back in that
      // moment still finds row 3 as it was before, and the UPDATE goes with those (unchanged) values before the removal.
      const removal = { key: '3', value: { id: 3, doc: null, tags: null, n: null }, reselected: undefined }
      if (got.length === 9) assert.deepEqual(got[7], expect(3, 99, 'doc,tags'), 'an UPDATE read back before its transaction was visible carries the values it left unchanged')
      assert.deepEqual(got.at(-1), removal, 'the removal of the deleted row is sent, last')
      assert.ok(got.length === 8 || got.length === 9, `8 or 9 messages: ${got.length}`)
      assert.ok(!states.some((s) => s.state === 'failed' || s.state === 'degraded'), 'the sync never stopped')
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
    // `rowcast check` (and the start-up log) names the model columns that can be TOASTed, and what happens to them.
    const warning = (await runChecks(config)).map((r) => r.detail).find((d) => /TOASTed/.test(d)) ?? ''
    assert.match(warning, /model columns "doc", "tags" of public\.\S+ can hold large \(TOASTed\) values.*reads them back.*rowcast-reselected/, warning)
  })

  test('model.unchangedToast: error keeps such an UPDATE a row error, for onRowError', async () => {
    const table = uniqueName('toasterr')
    const dead = `${table}_dead`
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, doc text NOT NULL, n int NOT NULL)`)
    await createTopics(env, [table, dead], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table}, unchangedToast: error }
    topic: ${table}
    onRowError: { deadLetter: { topic: ${dead} } }
    message: { mapping: { id: id, doc: doc, n: n } }`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [table, dead])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} SELECT 1, ${BIG}, 0`)
      await sql(env, `UPDATE ${table} SET n = 1`)
      await consumer.waitFor(2)
      const letter = consumer.messages.find((m) => m.topic === dead)
      assert.ok(letter !== undefined, 'the UPDATE went to the dead-letter topic')
      assert.equal((JSON.parse(letter.value) as { code: string }).code, 'ROW_VALUE_UNAVAILABLE')
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})
