/**
 * A sync's `model.filter` reaches PostgreSQL's DDL (CREATE/ALTER PUBLICATION … WHERE (filter)): it must be one
 * boolean expression over the model's table and nothing else. Injection attempts leave the database untouched
 * and fail the sync with an error naming `syncs[i].model.filter`; a filter with a `;` inside a literal still works.
 */
import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, configYaml, consume, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { finish, record } from '../support/sync-helpers.ts'

describe('model.filter is one expression, never more SQL', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  const syncYaml = (table: string, filter: string) => `
  - name: ${table}
    model: { table: public.${table}, filter: ${JSON.stringify(filter)} }
    topic: ${table}
    message: { mapping: { id: id } }`

  /**
   * Runs the sync until it fails or streams and calls `inspect` then, while its publication (if any) still
   * exists; the caller checks the database that way first, then the state with `refused` below.
   */
  async function runUntilSettled(table: string, filter: string, inspect: () => Promise<void> = async () => {}): Promise<{ state: string; reason?: string }> {
    const daemon = await runDaemon(configFor(env, syncYaml(table, filter)))
    const states = record(daemon, 'state')
    try {
      const settled = await eventually(() => states.find((s) => s.state === 'failed' || s.state === 'streaming'), (s) => s !== undefined, 20_000, 'failed or streaming')
      await inspect()
      return settled!
    } finally {
      await finish(env, daemon)
    }
  }

  function refused(settled: { state: string; reason?: string }): string {
    assert.equal(settled.state, 'failed', 'the sync started with this filter')
    assert.match(settled.reason ?? '', /syncs\[0\]\.model\.filter: /)
    return settled.reason ?? ''
  }

  test('"true); DROP TABLE x; --" drops nothing and is refused, naming syncs[0].model.filter', async () => {
    const table = uniqueName('inject')
    const victim = uniqueName('victim')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    await sql(env, `CREATE TABLE ${victim} (id int PRIMARY KEY)`)
    let publications = -1
    const settled = await runUntilSettled(table, `true); DROP TABLE ${victim}; --`, async () => {
      publications = (await sql(env, 'SELECT 1 FROM pg_publication WHERE pubname = $1', [`rowcast_${table}`])).rowCount ?? 0
      // It shares the file's stream group (the default): nor is its table added to the group's publication.
      publications += (await sql(env, 'SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND tablename = $2', [TEST_GROUP, table])).rowCount ?? 0
    })
    const left = await sql(env, 'SELECT to_regclass($1) AS t', [`public.${victim}`])
    assert.notEqual(left.rows[0].t, null, `the filter dropped table ${victim}`)
    const reason = refused(settled)
    assert.match(reason, /"\)" at character 5 closes a parenthesis the filter did not open/, `the reason says what is wrong: ${reason}`)
    assert.equal(publications, 0, 'no publication is created (nor the group\'s altered) from a refused filter')
  })

  test('rowcast validate reports the injection attempt by path, and runs nothing', async () => {
    const table = uniqueName('inject')
    const victim = uniqueName('victim')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    await sql(env, `CREATE TABLE ${victim} (id int PRIMARY KEY)`)
    const file = join(mkdtempSync(join(tmpdir(), 'rowcast-filter-')), 'rowcast.yaml')
    writeFileSync(file, configYaml(env, syncYaml(table, `id > 0 AND 'a;b' <> ''; DROP TABLE ${victim}`)))
    const result = await promisify(execFile)(process.execPath, ['bin/rowcast.mjs', 'validate', '--config', file], { timeout: 30_000 }).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    )
    assert.equal(result.code, 2, result.out)
    assert.match(result.out, /syncs\[0\]\.model\.filter: not a single condition on the table: ";" at character 23 ends the statement/)
    assert.notEqual((await sql(env, 'SELECT to_regclass($1) AS t', [`public.${victim}`])).rows[0].t, null)
  })

  test('"true), TABLE other WHERE (true" does not add another table to the publication', async () => {
    const table = uniqueName('inject')
    const other = uniqueName('secret')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    await sql(env, `CREATE TABLE ${other} (id int PRIMARY KEY)`)
    let published: string[] = []
    const settled = await runUntilSettled(table, `true), TABLE ${other} WHERE (true`, async () => {
      // Its own publication (dedicated) or the file's stream group's (shared, the default).
      published = (await sql(env, 'SELECT tablename FROM pg_publication_tables WHERE pubname = ANY($1)', [[`rowcast_${table}`, TEST_GROUP]])).rows.map((r) => r.tablename)
    })
    assert.deepEqual(published.filter((t) => t === other), [], `${other} was added to the publication`)
    refused(settled)
  })

  test('a filter that is not boolean, or names no such column, is refused with PostgreSQL\'s reason', async () => {
    const table = uniqueName('notbool')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    assert.match(refused(await runUntilSettled(table, 'id + 1')), /boolean/)
    const missing = uniqueName('nocol')
    await sql(env, `CREATE TABLE ${missing} (id int PRIMARY KEY)`)
    assert.match(refused(await runUntilSettled(missing, 'id > 0 AND no_such_column = 1')), /no_such_column/)
  })

  test('a ";" inside a string literal is fine: the filter works', async () => {
    const table = uniqueName('semi')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, note text)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await createTopics(env, [table], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table}, filter: "note <> 'a;b' AND note <> $$x;)y$$" }
    topic: ${table}
    message: { mapping: { id: id, note: note } }`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a;b'), (2, 'x;)y'), (3, 'kept')`)
      const [message] = await consumer.waitFor(1)
      assert.deepEqual(JSON.parse(message.value), { id: 3, note: 'kept' })
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})
