import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Batch, SourceChange } from '../../../core/changes.ts'
import { WatermarkMerge, type MergedChunk } from '../../../connectors/postgres/watermark-merge.ts'

/** DBLog's merge of a chunk into the stream: keys changed between the watermarks leave the chunk. */
const table = 'public.t'
const insert = (id: number, v = 0): SourceChange => ({ op: 'insert', table, row: { id, v }, previous: null, previousIsFull: false, lsn: '0/0' })
const streamed = (...items: SourceChange[]): Batch<SourceChange> => ({ items, commitLsn: 0x10n, commitTime: 1, txId: 9 })
const update = (id: number): SourceChange => ({ op: 'update', table, row: { id, v: 1 }, previous: null, previousIsFull: false, lsn: '0/20' })
const remove = (id: number): SourceChange => ({ op: 'delete', table, row: null, previous: { id }, previousIsFull: false, lsn: '0/30' })

function merge(maxBatchRows = 100): WatermarkMerge {
  return new WatermarkMerge({ table, identity: ['id'], maxBatchRows, run: 'r1' })
}

test('at the high watermark the chunk comes out without the keys the stream changed between the watermarks, tagged with the watermark transaction', () => {
  const m = merge()
  const placed: MergedChunk[] = []
  m.expect(0, (p) => placed.push(p))
  m.observe(streamed(update(2))) // before the low watermark: the chunk read after it has this change
  assert.deepEqual(m.onWatermark(m.watermark(0, 'low'), 5, 0x40n, 7), [])
  m.observe(streamed(update(3), remove(4), { ...insert(9), table: 'public.other' }))
  m.read({ seq: 0, rows: [1, 2, 3, 4, 5].map((id) => insert(id)), end: ['5'], last: false })
  const batches = m.onWatermark(m.watermark(0, 'high'), 6, 0x50n, 8)
  assert.deepEqual(batches, [{ items: [insert(1), insert(2), insert(5)], commitLsn: null, commitTime: 8, txId: 6 }])
  assert.equal(placed.length, 1)
  assert.equal(placed[0].sent, 3)
  assert.equal(placed[0].commitLsn, 0x50n)
  // The window is closed: later changes are not remembered, and the chunk is not placed twice.
  m.observe(streamed(update(1)))
  assert.deepEqual(m.onWatermark(m.watermark(0, 'high'), 7, 0x60n, 9), [])
})

test('watermarks of another run (replayed after a restart) or another chunk are ignored', () => {
  const m = merge()
  const placed: MergedChunk[] = []
  m.expect(1, (p) => placed.push(p))
  const old = new WatermarkMerge({ table, identity: ['id'], maxBatchRows: 100, run: 'r0' })
  assert.deepEqual(m.onWatermark(old.watermark(1, 'low'), 1, 0x10n, 0), [])
  m.observe(streamed(update(1)))
  m.read({ seq: 1, rows: [insert(1)], end: ['1'], last: true })
  assert.deepEqual(m.onWatermark(old.watermark(1, 'high'), 2, 0x20n, 0), [])
  assert.deepEqual(m.onWatermark(m.watermark(0, 'high'), 2, 0x20n, 0), [])
  assert.equal(placed.length, 0)
  // Its own watermarks: the update before its low watermark was not in a window, so row 1 is sent.
  m.onWatermark(m.watermark(1, 'low'), 3, 0x30n, 0)
  assert.equal(m.onWatermark(m.watermark(1, 'high'), 4, 0x40n, 0)[0].items.length, 1)
})

test('a large chunk is split into batches of maxBatchRows; composite keys match by every column', () => {
  const m = new WatermarkMerge({ table, identity: ['a', 'b'], maxBatchRows: 2, run: 'r' })
  m.expect(0, () => undefined)
  m.onWatermark(m.watermark(0, 'low'), 1, 0x10n, 0)
  const row = (a: number, b: string): SourceChange => ({ op: 'insert', table, row: { a, b }, previous: null, previousIsFull: false, lsn: '0/0' })
  m.observe(streamed({ ...row(1, 'y'), op: 'update' }))
  m.read({ seq: 0, rows: [row(1, 'x'), row(1, 'y'), row(2, 'x'), row(2, 'y'), row(3, 'x')], end: ['3', 'x'], last: true })
  const batches = m.onWatermark(m.watermark(0, 'high'), 2, 0x20n, 0)
  assert.deepEqual(batches.map((b) => b.items.map((c) => `${c.row?.a}${c.row?.b}`)), [['1x', '2x'], ['2y', '3x']])
})

test('cancel: nothing expected any more, observe is a no-op', () => {
  const m = merge()
  m.expect(0, () => assert.fail('cancelled'))
  m.onWatermark(m.watermark(0, 'low'), 1, 0x10n, 0)
  m.cancel()
  m.observe(streamed(update(1)))
  m.read({ seq: 0, rows: [insert(1)], end: ['1'], last: true })
  assert.deepEqual(m.onWatermark(m.watermark(0, 'high'), 2, 0x20n, 0), [])
})

test('several chunks in flight (parallel readers): each window remembers only the changes after its own low watermark', () => {
  const m = merge()
  const placed: number[] = []
  m.expect(0, (p) => placed.push(p.chunk.seq))
  m.expect(1, (p) => placed.push(p.chunk.seq))
  m.onWatermark(m.watermark(0, 'low'), 1, 0x10n, 0)
  m.observe(streamed(update(1))) // only chunk 0's window is open
  m.onWatermark(m.watermark(1, 'low'), 2, 0x20n, 0)
  m.observe(streamed(remove(12)))
  m.read({ seq: 1, rows: [11, 12, 13].map((id) => insert(id)), end: ['13'], last: true })
  m.read({ seq: 0, rows: [1, 2, 3].map((id) => insert(id)), end: ['3'], last: false })
  // Chunk 1's high watermark first: out of order is fine, each chunk is merged on its own.
  assert.deepEqual(m.onWatermark(m.watermark(1, 'high'), 3, 0x30n, 0)[0].items.map((c) => c.row?.id), [11, 13])
  m.observe(streamed(update(2))) // still in chunk 0's window
  assert.deepEqual(m.onWatermark(m.watermark(0, 'high'), 4, 0x40n, 0)[0].items.map((c) => c.row?.id), [3])
  assert.deepEqual(placed, [1, 0])
})

test('a table without a key: the identity is the whole row, so a chunk row equal to any old or new image of the window is the stream\'s', () => {
  const m = new WatermarkMerge({ table, identity: ['uid', 'n'], maxBatchRows: 100, run: 'r' })
  const row = (uid: number, n: number): SourceChange => ({ op: 'insert', table, row: { uid, n }, previous: null, previousIsFull: false, lsn: '0/0' })
  m.expect(0, () => undefined)
  m.onWatermark(m.watermark(0, 'low'), 1, 0x10n, 0)
  // uid 1: 0 -> 1 (the chunk saw either image); uid 2 deleted; uid 3 inserted; uid 4 untouched; NULL is not the text 'null'.
  m.observe(streamed({ op: 'update', table, row: { uid: 1, n: 1 }, previous: { uid: 1, n: 0 }, previousIsFull: true, lsn: '0/20' }))
  m.observe(streamed({ op: 'delete', table, row: null, previous: { uid: 2, n: 0 }, previousIsFull: true, lsn: '0/30' }))
  m.observe(streamed({ op: 'insert', table, row: { uid: 3, n: null }, previous: null, previousIsFull: false, lsn: '0/40' }))
  m.read({ seq: 0, rows: [row(1, 0), row(2, 0), { ...row(3, 0), row: { uid: 3, n: null } }, row(4, 0), { ...row(5, 0), row: { uid: 5, n: 'null' } }], end: ['(3,0)'], last: true })
  const sent = m.onWatermark(m.watermark(0, 'high'), 2, 0x20n, 0)[0].items.map((c) => c.row)
  assert.deepEqual(sent, [{ uid: 4, n: 0 }, { uid: 5, n: 'null' }])
})

function sliced(): WatermarkMerge {
  return new WatermarkMerge({ table, identity: ['id'], maxBatchRows: 100, run: 'r1', sliced: true })
}

test('sliced: at the high watermark nothing is placed; slices are taken later, and a key the stream changes before its slice leaves the chunk', () => {
  const m = sliced()
  const placed: MergedChunk[] = []
  m.expect(0, (p) => placed.push(p))
  m.onWatermark(m.watermark(0, 'low'), 1, 0x10n, 0)
  m.observe(streamed(update(2))) // in the window
  m.read({ seq: 0, rows: [1, 2, 3, 4, 5, 6, 7].map((id) => insert(id)), end: ['7'], last: false })
  assert.deepEqual(m.onWatermark(m.watermark(0, 'high'), 2, 0x20n, 0), [])
  assert.equal(m.waiting, true)
  assert.equal(placed.length, 0)
  assert.deepEqual(m.take(2, 0x30n)?.map((c) => c.row?.id), [1, 3])
  // Past the high watermark, before their slice: 4 updated, 5 deleted; 1 (already taken) changed after its slice.
  m.observe(streamed(update(4), remove(5), update(1)))
  const seen: string[] = []
  m.expect(9, () => undefined) // another chunk's window: untouched by taking
  assert.deepEqual(m.take(2, 0x40n, (slice) => seen.push(`slice of ${slice.length}, ${placed.length} placed`))?.map((c) => c.row?.id), [6, 7])
  assert.deepEqual(seen, ['slice of 2, 0 placed'], 'the slice is seen before its chunk is placed (its marks are numbered first)')
  assert.equal(placed.length, 1, 'placed by the slice that ends it')
  assert.equal(placed[0].sent, 4)
  assert.equal(placed[0].commitLsn, 0x40n, 'at the last commit passed on before that slice')
  assert.deepEqual(placed[0].rows, [])
  assert.equal(m.waiting, false)
  assert.equal(m.take(2, 0x50n), null)
  // Nothing waits and no window is open: the stream costs one comparison again.
  m.observe(streamed(update(6)))
})

test('sliced: an empty chunk (or one the stream emptied) is placed by a take of no rows; chunks are taken in high-watermark order; cancel drops what waits', () => {
  const m = sliced()
  const placed: number[] = []
  for (const seq of [0, 1, 2]) m.expect(seq, (p) => placed.push(p.chunk.seq))
  for (const seq of [0, 1, 2]) m.onWatermark(m.watermark(seq, 'low'), seq, BigInt(seq), 0)
  m.read({ seq: 0, rows: [insert(1)], end: ['1'], last: false })
  m.read({ seq: 1, rows: [], end: null, last: true })
  m.read({ seq: 2, rows: [insert(9)], end: ['9'], last: false })
  m.onWatermark(m.watermark(1, 'high'), 3, 0x30n, 0)
  m.onWatermark(m.watermark(0, 'high'), 4, 0x40n, 0)
  m.observe(streamed(remove(1)))
  assert.deepEqual(m.take(10, 0x50n), [])
  assert.deepEqual(m.take(10, 0x50n), [])
  assert.deepEqual(placed, [1, 0])
  m.onWatermark(m.watermark(2, 'high'), 5, 0x60n, 0)
  m.cancel()
  assert.equal(m.waiting, false)
  assert.equal(m.take(10, 0x70n), null)
  assert.deepEqual(placed, [1, 0])
})
