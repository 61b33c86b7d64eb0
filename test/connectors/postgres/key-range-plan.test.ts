/**
 * The key-range planner of chunked snapshots (chunk-plan.ts KeyRangePlan). One reader: the next chunk starts after
 * the last key the previous one read, so it is planned only once that read is done (pure, no server). Several
 * readers: the planner walks the key's index for each chunk's upper key, on the real PostgreSQL, and the chunks it
 * hands out cover every row of the model exactly once, in key order.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { KeyRangePlan, type PlannedChunk } from '../../../connectors/postgres/chunk-plan.ts'
import { ChunkSize } from '../../../connectors/postgres/chunk-size.ts'
import type { ReadChunk } from '../../../connectors/postgres/watermark-merge.ts'
import type { StackEnv } from '../../../scripts/stack-env.ts'
import { sql, stack, uniqueName } from '../../support/harness.ts'

const columns = [
  { name: 'tenant', typeOid: 25, typeName: 'text', nullable: false },
  { name: 'id', typeOid: 23, typeName: 'int4', nullable: false },
  { name: 'note', typeOid: 25, typeName: 'text', nullable: true },
]
const readOf = (seq: number, rows: number, end: string[] | null, last: boolean): ReadChunk => ({
  seq, rows: Array.from({ length: rows }, () => ({ op: 'insert', table: 'public.t', row: {}, previous: null, previousIsFull: false, lsn: '0/0' })), end, last,
})

test('one reader: LIMIT chunks after the last key read, composite keys cast to their types, planned only once the previous read is done', async () => {
  const table = { table: 'public.t', columns, keyColumns: ['tenant', 'id'], filter: 'note IS NOT NULL' }
  const plan = new KeyRangePlan(null as unknown as pg.ClientBase, table, new ChunkSize(500), null, false)
  const first = await plan.next()
  assert.equal(first?.text, 'SELECT tenant, id, note FROM public.t WHERE (note IS NOT NULL) ORDER BY tenant, id LIMIT 500')
  assert.deepEqual({ values: first?.values, after: first?.after, end: first?.end, last: first?.last, limit: first?.limit }, { values: [], after: null, end: null, last: null, limit: 500 })
  // The second chunk's lower key is the first one's last key: not known until that read is done.
  const box: { chunk?: PlannedChunk | null } = {}
  const planned = plan.next().then((c) => (box.chunk = c))
  await new Promise((resolve) => setTimeout(resolve, 20))
  assert.equal(box.chunk, undefined, 'the next chunk waits for the read of the previous one')
  plan.read(first!, readOf(0, 500, ['acme', '500'], false), 5)
  const second = await planned
  assert.equal(second?.text, 'SELECT tenant, id, note FROM public.t WHERE (note IS NOT NULL) AND (tenant, id) > ($1::text, $2::int4) ORDER BY tenant, id LIMIT 500')
  assert.deepEqual(second?.values, ['acme', '500'])
  assert.deepEqual(second?.after, ['acme', '500'])
  // A read with fewer rows than asked is the last: no chunk after it.
  plan.read(second!, readOf(1, 12, ['zeta', '3'], true), 1)
  assert.equal(await plan.next(), null)
})

test('one reader resumes after the recorded key; with snapshot.chunkTimeMs the LIMIT follows the read rate', async () => {
  const table = { table: 'public.t', columns, keyColumns: ['id'], filter: null }
  const plan = new KeyRangePlan(null as unknown as pg.ClientBase, table, new ChunkSize(1_000, 100), ['41'], false)
  const first = await plan.next()
  assert.equal(first?.text, 'SELECT tenant, id, note FROM public.t WHERE (id) > ($1::int4) ORDER BY id LIMIT 1000')
  assert.deepEqual(first?.values, ['41'])
  plan.read(first!, readOf(0, 1_000, ['1041'], false), 50) // 20 rows/ms: 100 ms is 2,000 rows (at most doubled)
  assert.equal((await plan.next())?.limit, 2_000)
})

let env: StackEnv
let client: pg.Client
before(async () => {
  env = await stack()
  client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
  await client.connect()
})
after(async () => {
  await client?.end()
})

test('several readers: bounded chunks (lower, upper] from an index walk, every row of the filter once, the last one open', async () => {
  const name = uniqueName('keyplan')
  await sql(env, `CREATE TABLE ${name} (tenant text, id int, note text, PRIMARY KEY (tenant, id))`)
  await sql(env, `INSERT INTO ${name} SELECT t, g, CASE WHEN g % 5 = 0 THEN NULL ELSE 'n' || g END FROM unnest(ARRAY['acme', 'beta', 'zeta']) t, generate_series(1, 40) g`)
  const table = { table: `public.${name}`, columns, keyColumns: ['tenant', 'id'], filter: 'note IS NOT NULL' }
  const plan = new KeyRangePlan(client, table, new ChunkSize(25), null, true)
  // Two readers ask at once: the planner serves them one at a time, in order.
  const chunks: PlannedChunk[] = []
  for (;;) {
    const [a, b] = await Promise.all([plan.next(), plan.next()])
    for (const c of [a, b]) if (c !== null) chunks.push(c)
    if (a === null || b === null) break
  }
  assert.deepEqual(chunks.map((c) => c.seq), chunks.map((_, i) => i))
  assert.equal(chunks.filter((c) => c.last === true).length, 1)
  assert.equal(chunks.at(-1)?.last, true, 'the last chunk handed out is the open one')
  const read: string[] = []
  for (const chunk of chunks) {
    const { rows } = await client.query<{ tenant: string; id: number }>(chunk.text, chunk.values)
    if (chunk.last === false) assert.equal(rows.length, 25, `chunk ${chunk.seq} holds chunkRows rows`)
    for (const row of rows) read.push(`${row.tenant}/${row.id}`)
  }
  const expected = (await sql(env, `SELECT tenant, id FROM ${name} WHERE note IS NOT NULL ORDER BY tenant, id`)).rows.map((r: { tenant: string; id: number }) => `${r.tenant}/${r.id}`)
  assert.deepEqual(read, expected, 'every row of the filter once, in key order')
  // Each chunk starts where the one before it ended.
  for (let i = 1; i < chunks.length; i++) assert.deepEqual(chunks[i].after, chunks[i - 1].end)
})
