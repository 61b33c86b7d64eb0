import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChunkSize, nextChunkRows } from '../../../connectors/postgres/chunk-size.ts'

test('snapshot.chunkTimeMs: the next chunk aims at the target time from the last read\'s rate, at most doubling or halving', () => {
  assert.equal(nextChunkRows(2_000, 2_000, 250, 500, 200, 20_000), 4_000, 'twice as fast as needed: double')
  assert.equal(nextChunkRows(2_000, 2_000, 5_000, 500, 200, 20_000), 1_000, 'ten times too slow: halve (one step)')
  assert.equal(nextChunkRows(2_000, 2_000, 600, 500, 200, 20_000), 1_667, 'close: straight to the rate')
  assert.equal(nextChunkRows(2_000, 500, 100, 500, 200, 20_000), 2_500, 'a short chunk (end of table) still gives the rate')
  assert.equal(nextChunkRows(15_000, 15_000, 10, 500, 200, 20_000), 20_000, 'never past the ceiling')
  assert.equal(nextChunkRows(300, 300, 10_000, 500, 200, 20_000), 200, 'never under the floor')
  assert.equal(nextChunkRows(2_000, 0, 100, 500, 200, 20_000), 2_000, 'no rows: no rate, no change')
  assert.equal(nextChunkRows(2_000, 2_000, 0, 500, 200, 20_000), 2_000, 'no measurable time: no change')
})

test('ChunkSize: fixed without a target; with one, bounded by a tenth and ten times chunkRows', () => {
  const fixed = new ChunkSize(2_000)
  fixed.observe(2_000, 1)
  assert.equal(fixed.rows, 2_000)
  const adaptive = new ChunkSize(1_000, 100)
  for (let i = 0; i < 20; i++) adaptive.observe(adaptive.rows, 1) // very fast reads
  assert.equal(adaptive.rows, 10_000)
  for (let i = 0; i < 20; i++) adaptive.observe(adaptive.rows, 100_000) // very slow reads
  assert.equal(adaptive.rows, 100)
})
