import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, createTopics, eventually, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { finish, memoryLogger, record, sleep } from '../support/sync-helpers.ts'
import { kcatValues } from '../support/kcat.ts'

/**
 * Schema changes while rows stream (issue 14, item 3). Every DDL runs while a writer inserts rows of several
 * KiB; what reaches Kafka is read by kcat and judged per key against PostgreSQL's final state. A model column
 * whose type changes is decoded by its new type; `schemaChanges: fail` (the default) stops the sync naming the
 * table, the column and the change; `follow` carries on with the new shape; no message holds a null the row did
 * not have.
 */
describe('schema changes while streaming', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  /**
   * Inserts 20 rows of ~4 KiB per statement until stopped; `exprs` gives each column's SQL expression of g (the row
   * id). A statement that meets a DDL midway (its columns no longer fit) is retried with the new expressions.
   */
  function writer(table: string, exprs: () => Record<string, string>, from = 1) {
    let next = from
    let stopped = false
    let failures = 0
    let failure: unknown = null
    const done = (async () => {
      while (!stopped && failures < 50) {
        const e = exprs()
        const names = Object.keys(e)
        const insert = `INSERT INTO ${table} (id, ${[...names, 'pad'].join(', ')}) SELECT g, ${[...names.map((n) => e[n]), 'repeat(md5(g::text), 128)'].join(', ')} FROM generate_series(${next}, ${next + 19}) g`
        try {
          await sql(env, insert)
          next += 20
          failures = 0
        } catch (error) {
          failure = error
          failures++
        }
        await sleep(30)
      }
    })()
    return {
      written: () => next - 1,
      stop: async () => {
        stopped = true
        await done
        if (failures > 0) throw failure
      },
    }
  }

  /** The last message of each key (template `{"row": {{ row | json }}}`), by kcat. */
  async function lastRows(topic: string, count: number): Promise<Map<number, Record<string, unknown>>> {
    const values = await kcatValues(env, topic, count, 60_000)
    const rows = new Map<number, Record<string, unknown>>()
    for (const value of values) {
      const row = (JSON.parse(value) as { row: Record<string, unknown> }).row
      rows.set(row.id as number, row)
    }
    return rows
  }

  const wholeRow = `{ template: '{"row": {{ row | json }}}' }`

  test('follow: int→text, int→numeric and int4→int8 are decoded by the new type, exact, never null', { timeout: 180_000 }, async () => {
    const table = uniqueName('schtype')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, a int NOT NULL, b int NOT NULL, c int4 NOT NULL, pad text NOT NULL)`)
    await createTopics(env, [table], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    schemaChanges: follow
    topic: ${table}
    key: id
    message: ${wholeRow}`)
    const daemon = await runDaemon(config)
    let phase = 0
    await streaming(daemon)
    const w = writer(table, () => ({
      a: phase >= 1 ? `'hello-' || g` : 'g',
      b: phase >= 2 ? `(g || '.50')::numeric` : 'g',
      c: phase >= 3 ? '9007199254740993 + g' : 'g',
    }))
    try {
      await sleep(500)
      await sql(env, `ALTER TABLE ${table} ALTER COLUMN a TYPE text`)
      phase = 1
      await sleep(500)
      await sql(env, `ALTER TABLE ${table} ALTER COLUMN b TYPE numeric`)
      phase = 2
      await sleep(500)
      await sql(env, `ALTER TABLE ${table} ALTER COLUMN c TYPE int8`)
      phase = 3
      await sleep(500)
      await w.stop()
      const { rows } = await sql(env, `SELECT id, a, b::text AS b, c::text AS c FROM ${table} ORDER BY id`)
      assert.equal(rows.length, w.written())
      const got = await lastRows(table, rows.length)
      const wrong: string[] = []
      for (const row of rows) {
        const m = got.get(row.id as number)
        if (m === undefined) { wrong.push(`${row.id}: missing`); continue }
        for (const column of ['a', 'b', 'c']) {
          const value = m[column]
          // Before its DDL a column was an int (a JSON number); after, its text decides: exactly the server's text.
          if (value === null || value === undefined || String(value) !== row[column]) wrong.push(`${row.id}.${column}: ${JSON.stringify(value)} (PostgreSQL: ${row[column]})`)
        }
        if ((row.a as string).startsWith('hello') && typeof m.a !== 'string') wrong.push(`${row.id}.a not a string`)
        if ((row.b as string).endsWith('.50') && m.b !== row.b) wrong.push(`${row.id}.b: ${JSON.stringify(m.b)} is not the exact numeric text`)
      }
      assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} wrong of ${rows.length}`)
      assert.ok(rows.some((r) => (r.a as string).startsWith('hello')) && rows.some((r) => (r.c as string).length > 15), 'rows were written after every DDL')
    } finally {
      await w.stop().catch(() => undefined)
      await finish(env, daemon)
    }
  })

  test('fail (the default): a type change, a rename and a drop of model columns stop the sync naming table, column and change', { timeout: 180_000 }, async () => {
    const ddl: Record<string, (t: string) => string> = {
      retype: (t) => `ALTER TABLE ${t} ALTER COLUMN age TYPE text`,
      rename: (t) => `ALTER TABLE ${t} RENAME COLUMN age TO years`,
      drop: (t) => `ALTER TABLE ${t} DROP COLUMN age`,
    }
    const expected: Record<string, RegExp> = {
      retype: /"age".*int4.*text/,
      rename: /"age".*renamed to "years"/,
      drop: /"age".*dropped/,
    }
    const tables = Object.fromEntries(Object.keys(ddl).map((kind) => [kind, uniqueName(`sch${kind}`)]))
    for (const table of Object.values(tables)) await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, age int NOT NULL, pad text NOT NULL)`)
    await createTopics(env, Object.values(tables), 1)
    const config = configFor(env, Object.values(tables).map((table) => `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: ${wholeRow}`).join(''))
    const log = memoryLogger()
    const daemon = await runDaemon(config, { logger: log.logger })
    const states = record(daemon, 'state')
    let restarted: Awaited<ReturnType<typeof runDaemon>> | null = null
    await streaming(daemon)
    const writers = Object.entries(tables).map(([kind, table]) => ({ kind, table, w: writer(table, () => ({ age: 'g' })) }))
    try {
      await sleep(500)
      for (const { kind, table } of writers) await sql(env, ddl[kind](table))
      // The writers go on with the new shape: text ages, or no age at all.
      for (const x of writers) {
        await x.w.stop().catch(() => undefined) // its last statement may have met the DDL
        x.w = writer(x.table, (): Record<string, string> => (x.kind === 'retype' ? { age: `'hello'` } : x.kind === 'rename' ? { years: 'g' } : {}), x.w.written() + 1)
      }
      await sleep(1_000)
      for (const { kind, table } of writers) {
        const failed = await eventually(() => states.find((s) => s.sync === table && s.state === 'failed'), (s) => s !== undefined, 30_000, `${kind}: sync failed (states: ${JSON.stringify(states.filter((s) => s.sync === table))})`)
        assert.match(failed?.reason ?? '', new RegExp(`public\\.${table}`), `${kind}: the reason names the table`)
        assert.match(failed?.reason ?? '', expected[kind], `${kind}: the reason names the column and the change`)
        assert.match(failed?.reason ?? '', /schemaChanges: follow/, `${kind}: the reason says how to carry on`)
      }
      assert.ok(log.lines().some((l) => l.level === 50 && l.code === 'PG_SCHEMA_CHANGED'), 'logged with code PG_SCHEMA_CHANGED')
      for (const { w } of writers) await w.stop()
      // Nothing of the new shape reached Kafka: every message has the age the row had, a number.
      for (const { kind, table } of writers) {
        const values = await kcatValues(env, table, 1)
        const bad = values.map((v) => (JSON.parse(v) as { row: Record<string, unknown> }).row).filter((r) => typeof r.age !== 'number')
        assert.deepEqual(bad.slice(0, 5), [], `${kind}: ${bad.length} messages without the row's age`)
      }
      // A stop sticks: a restarted daemon compares the stream with the shape recorded when the sync started, and stops again.
      await daemon.stop()
      restarted = await runDaemon(config, { logger: memoryLogger().logger })
      const again = record(restarted, 'state')
      for (const { kind, table } of writers) {
        const failed = await eventually(() => again.find((s) => s.sync === table && s.state === 'failed'), (s) => s !== undefined, 60_000, `${kind}: failed again after a restart (states: ${JSON.stringify(again.filter((s) => s.sync === table))})`)
        assert.match(failed?.reason ?? '', expected[kind], `${kind}: the same change, after a restart`)
      }
    } finally {
      for (const { w } of writers) await w.stop().catch(() => undefined)
      await finish(env, restarted ?? daemon)
    }
  })

  test('follow: an added column appears from the change on (not with a projection); a dropped or renamed one leaves no null; one the mapping names stops', { timeout: 180_000 }, async () => {
    const table = uniqueName('schadd')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, age int, nick text, pad text NOT NULL)`)
    const projected = `${table}_p`
    const mapped = `${table}_m`
    await createTopics(env, [table, projected, mapped], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    schemaChanges: follow
    topic: ${table}
    key: id
    message: ${wholeRow}
  - name: ${projected}
    model: { table: public.${table}, columns: [id, age, pad] }
    topic: ${projected}
    key: id
    message: ${wholeRow}
  - name: ${mapped}
    model: { table: public.${table} }
    schemaChanges: follow
    topic: ${mapped}
    key: id
    message: { mapping: { id: id, nick: nick } }`)
    const daemon = await runDaemon(config)
    const states = record(daemon, 'state')
    let phase = 0
    await streaming(daemon)
    const w = writer(table, (): Record<string, string> => (phase === 0 ? { age: 'g', nick: `'n' || g` } : phase === 1 ? { age: 'g', nick: `'n' || g`, score: 'g * 2' } : phase === 2 ? { age: 'g', score: 'g * 2' } : { years: 'g', score: 'g * 2' }))
    try {
      await sleep(500)
      await sql(env, `ALTER TABLE ${table} ADD COLUMN score int`)
      phase = 1
      await sleep(500)
      await sql(env, `ALTER TABLE ${table} DROP COLUMN nick`)
      phase = 2
      await sleep(500)
      await sql(env, `ALTER TABLE ${table} RENAME COLUMN age TO years`)
      phase = 3
      await sleep(500)
      await w.stop()
      const { rows } = await sql(env, `SELECT id, years, score FROM ${table} ORDER BY id`)
      const got = await lastRows(table, rows.length)
      const wrong: string[] = []
      for (const row of rows) {
        const m = got.get(row.id as number)
        if (m === undefined) { wrong.push(`${row.id}: missing`); continue }
        // Only score may be null: rows written before it was added have it null in the table (or, streamed before, no score at all).
        for (const [column, value] of Object.entries(m)) if (value === null && !(column === 'score' && row.score === null)) wrong.push(`${row.id}.${column}: null the row did not have`)
        if (m.score !== undefined && m.score !== row.score) wrong.push(`${row.id}.score: ${JSON.stringify(m.score)} (PostgreSQL: ${row.score})`)
        if ((m.years ?? m.age) !== row.years) wrong.push(`${row.id}: age/years ${JSON.stringify(m.years ?? m.age)} (PostgreSQL: ${row.years})`)
      }
      assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} wrong of ${rows.length}`)
      assert.ok([...got.values()].some((m) => m.years !== undefined), 'the renamed column appears under its new name')
      // The projected sync keeps its columns; the added one is not in its model. (It stops at the rename of "age": fail.)
      const p = await kcatValues(env, projected, 1)
      assert.ok(p.every((v) => !('score' in (JSON.parse(v) as { row: Record<string, unknown> }).row)), 'a projection does not grow')
      // A column the mapping names cannot go, even under follow: the sync stops, and no message lacks it.
      const failed = await eventually(() => states.find((s) => s.sync === mapped && s.state === 'failed'), (s) => s !== undefined, 30_000, `the mapped sync failed (states: ${JSON.stringify(states.filter((s) => s.sync === mapped))})`)
      assert.match(failed?.reason ?? '', /column "nick" dropped, which the sync's config names/)
      const m = (await kcatValues(env, mapped, 1)).map((v) => JSON.parse(v) as Record<string, unknown>)
      assert.deepEqual(m.filter((v) => typeof v.nick !== 'string').slice(0, 5), [], 'every mapped message has the nick its row had')
    } finally {
      await w.stop().catch(() => undefined)
      await finish(env, daemon)
    }
  })
})
