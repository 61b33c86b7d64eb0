import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, createTopics, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { backfilled, finish } from '../support/sync-helpers.ts'
import { kcatValues } from '../support/kcat.ts'

/**
 * json/jsonb reach Kafka as PostgreSQL's text: a 20-digit integer, `1.10`, and (json) key order and duplicate
 * keys survive, in every message mode, backfilled and streamed. Read by kcat, compared byte for byte.
 */

const DOC = '{"id": 12345678901234567890, "x": 1.10}'
const RAW = '{"z": 1, "id": 12345678901234567890, "x": 1.10, "x": 2.50, "a": [1.0, 1e400]}'

describe('json and jsonb values keep the server\'s text', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('mapping, column and template messages (fast path and liquidjs) carry the exact text', async () => {
    const table = uniqueName('jsontext')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, doc jsonb NOT NULL, raw json NOT NULL)`)
    await sql(env, `INSERT INTO ${table} VALUES (1, $1, $2)`, [DOC, RAW]) // backfilled
    // What PostgreSQL itself prints (jsonb normalises spacing and key order; json is the text as written).
    const { rows } = await sql(env, `SELECT $1::jsonb::text AS doc, $2::json::text AS raw`, [DOC, RAW])
    const doc = rows[0].doc as string
    const raw = rows[0].raw as string
    assert.equal(raw, RAW)
    assert.match(doc, /12345678901234567890/)

    const syncs: Record<string, { message: string; expected: string }> = {
      mapping: { message: '{ mapping: { id: id, doc: doc, raw: raw } }', expected: `{"id":ID,"doc":${doc},"raw":${raw}}` },
      jsonb_column: { message: '{ column: doc }', expected: doc },
      json_column: { message: '{ column: raw }', expected: raw },
      fast: { message: `{ template: '{"doc": {{row.doc}}, "raw": {{row.raw}}, "s": "{{row.raw}}"}' }`, expected: `{"doc": ${doc}, "raw": ${raw}, "s": ${JSON.stringify(raw)}}` },
      // liquidjs: reading into a json value still sees it parsed (`row.doc.x` is the number 1.1)
      liquid: { message: `{ template: '{% if row.id %}{"doc": {{row.doc}}, "raw": {{row.raw | json}}, "x": {{row.doc.x}}, "first": {{row.raw.a.first}}}{% endif %}' }`, expected: `{"doc": ${doc}, "raw": ${raw}, "x": 1.1, "first": 1}` },
    }
    const name = (mode: string) => `${table}_${mode}`
    await createTopics(env, Object.keys(syncs).map(name), 1)
    const config = configFor(env, Object.entries(syncs).map(([mode, { message }]) => `
  - name: ${name(mode)}
    model: { table: public.${table} }
    initialSync: backfill
    topic: ${name(mode)}
    message: ${message}`).join(''))
    const daemon = await runDaemon(config)
    try {
      await streaming(daemon)
      await backfilled(env, Object.keys(syncs).map(name)) // row 2 committed before a chunk is read would come twice (stream and chunk)
      await sql(env, `INSERT INTO ${table} VALUES (2, $1, $2)`, [DOC, RAW]) // streamed
      for (const [mode, { expected }] of Object.entries(syncs)) {
        const values = await kcatValues(env, name(mode), 2)
        assert.equal(values.length, 2, `${mode}: one message per row`)
        for (const [i, value] of values.entries()) {
          assert.equal(value, expected.replace('ID', String(i + 1)), `${mode}: message ${i + 1} (${i === 0 ? 'backfilled' : 'streamed'})`)
        }
      }
    } finally {
      await finish(env, daemon)
    }
  })
})
