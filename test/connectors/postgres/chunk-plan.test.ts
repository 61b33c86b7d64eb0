import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PageRangePlan, pageOf } from '../../../connectors/postgres/chunk-plan.ts'
import { ChunkSize } from '../../../connectors/postgres/chunk-size.ts'
import type { ReadChunk } from '../../../connectors/postgres/watermark-merge.ts'

const table = { table: 'public.t', columns: [{ name: 'a', typeOid: 23, typeName: 'int4', nullable: false }], keyColumns: [], filter: null }
const read = (seq: number, rows: number): ReadChunk => ({ seq, rows: Array.from({ length: rows }, () => ({ op: 'insert', table: 'public.t', row: {}, previous: null, previousIsFull: false, lsn: '0/0' })), end: null, last: false })

test('page ranges: TID bounds from the first page to the last one when the run started, sized by rows per page, the position being the next page', async () => {
  // 10,000 rows on 100 pages: 100 rows a page, so 1,000 rows are 10 pages.
  const plan = new PageRangePlan(table, new ChunkSize(1_000), 0, 100, 10_000)
  const first = await plan.next()
  assert.deepEqual(first?.values, ['(0,0)', '(10,0)'])
  assert.equal(first?.text, 'SELECT a FROM public.t WHERE ctid >= $1::tid AND ctid < $2::tid')
  assert.deepEqual(first?.end, ['(10,0)'])
  assert.equal(first?.last, false)
  // The first chunk had 50 rows a page: the next one covers 20 pages.
  plan.read(first!, read(0, 500), 10)
  const second = await plan.next()
  assert.deepEqual(second?.values, ['(10,0)', '(30,0)'])
  const chunks = [first, second]
  for (let c = await plan.next(); c !== null; c = await plan.next()) chunks.push(c)
  assert.deepEqual(chunks.map((c) => c?.seq), [0, 1, 2, 3, 4, 5])
  assert.deepEqual(chunks.at(-1)?.values, ['(90,0)', '(110,0)'])
  assert.equal(chunks.at(-1)?.last, true)
  assert.equal(chunks.filter((c) => c?.last === true).length, 1)
})

test('page ranges resume at the recorded page; an empty table still reads one (empty) chunk; a filter joins the bounds', async () => {
  assert.equal(pageOf(['(42,0)']), 42)
  assert.equal(pageOf(null), 0)
  assert.equal(pageOf(['17']), 0, 'a key, not a page: from the start')
  const resumed = new PageRangePlan({ ...table, filter: 'a > 1' }, new ChunkSize(1_000), 42, 50, 5_000)
  const chunk = await resumed.next()
  assert.deepEqual(chunk?.values, ['(42,0)', '(52,0)'])
  assert.equal(chunk?.last, true)
  assert.match(chunk?.text ?? '', / AND \(a > 1\)$/)
  assert.equal(await resumed.next(), null)
  const empty = new PageRangePlan(table, new ChunkSize(1_000), 0, 0, 0)
  assert.equal((await empty.next())?.last, true)
  assert.equal(await empty.next(), null)
})
