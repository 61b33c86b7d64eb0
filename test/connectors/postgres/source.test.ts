import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decideStart } from '../../../connectors/postgres/source.ts'

/** The coordinator's slot decision, from what the database holds (the integration suites run it for real). */
const slot = { confirmedFlush: 0x100n, activePid: null }

test('initialSync skip: an existing slot is resumed from its confirmed position; a missing one is created', () => {
  assert.deepEqual(decideStart(slot, null, 'skip'), { kind: 'resume', from: 0x100n })
  assert.deepEqual(decideStart(null, null, 'skip'), { kind: 'create' })
  assert.deepEqual(decideStart(slot, 'done', 'skip'), { kind: 'resume', from: 0x100n })
})

test('initialSync backfill: a new sync, or a backfill not yet delivered, starts from a new slot and its snapshot', () => {
  assert.deepEqual(decideStart(null, null, 'backfill'), { kind: 'snapshot', dropSlot: false })
  assert.deepEqual(decideStart(slot, 'pending', 'backfill'), { kind: 'snapshot', dropSlot: true })
  assert.deepEqual(decideStart(slot, 'done', 'backfill'), { kind: 'resume', from: 0x100n })
})

test('a requested resync always starts from a new slot and its snapshot', () => {
  assert.deepEqual(decideStart(slot, 'resync', 'skip'), { kind: 'snapshot', dropSlot: true })
  assert.deepEqual(decideStart(null, 'resync', 'backfill'), { kind: 'snapshot', dropSlot: false })
})
