import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChunkProgress } from '../../../connectors/postgres/chunk-progress.ts'

const chunk = (seq: number, last = false) => ({ seq, end: [String((seq + 1) * 10)], sent: 10, last })

test('chunks delivered out of order (parallel readers): the position is the end of the run of delivered chunks from the start', () => {
  const progress = new ChunkProgress({ after: ['100'], rows: 100, run: 'r1' })
  assert.equal(progress.deliver([chunk(1), chunk(2)]), null, 'chunk 0 not delivered: nothing to record (a crash reads 0, 1 and 2 again)')
  assert.deepEqual(progress.deliver([chunk(0)]), { progress: { after: ['30'], rows: 130, run: 'r1' }, last: false }, 'the gap filled: straight to the end of chunk 2')
  assert.deepEqual(progress.deliver([chunk(4, true)]), null, 'the last chunk, after a gap: not done yet')
  assert.equal(progress.delivered, 4)
  assert.deepEqual({ position: progress.position, gapless: progress.gapless }, { position: { after: ['30'], rows: 130, run: 'r1' }, gapless: false }, 'chunk 4 waits behind the gap: a slice of chunk 3 may not be recorded past it')
  assert.deepEqual(progress.deliver([chunk(3)]), { progress: { after: ['50'], rows: 150, run: 'r1' }, last: true }, 'every chunk up to the last one: done')
  assert.equal(progress.gapless, true)
})

test('a chunk with no position of its own (an empty last chunk) keeps the one before', () => {
  const progress = new ChunkProgress({ after: null, rows: 0, run: 'r1' })
  assert.deepEqual(progress.deliver([chunk(0), { seq: 1, end: null, sent: 0, last: true }]), { progress: { after: ['10'], rows: 10, run: 'r1' }, last: true })
})
