import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decideStart } from '../../../connectors/postgres/source.ts'

/** The coordinator's slot decision, from what the database holds (the integration suites run it for real). */
const slot = { confirmedFlush: 0x100n, activePid: null }

test('initialSync skip: an existing slot is resumed from its confirmed position; a missing one is created', () => {
  assert.deepEqual(decideStart(slot, null, 'skip'), { kind: 'resume', from: 0x100n, snapshot: false })
  assert.deepEqual(decideStart(null, null, 'skip'), { kind: 'create', snapshot: false })
  assert.deepEqual(decideStart(slot, 'done', 'skip'), { kind: 'resume', from: 0x100n, snapshot: false })
})

test('initialSync backfill: a new sync creates its slot, a backfill not yet delivered resumes it; both run the snapshot beside the stream', () => {
  assert.deepEqual(decideStart(null, null, 'backfill'), { kind: 'create', snapshot: true })
  assert.deepEqual(decideStart(slot, 'pending', 'backfill'), { kind: 'resume', from: 0x100n, snapshot: true })
  assert.deepEqual(decideStart(slot, 'done', 'backfill'), { kind: 'resume', from: 0x100n, snapshot: false })
})

test('a requested resync keeps the slot (never dropped) and runs the snapshot beside the stream', () => {
  assert.deepEqual(decideStart(slot, 'resync', 'skip'), { kind: 'resume', from: 0x100n, snapshot: true })
  assert.deepEqual(decideStart(null, 'resync', 'backfill'), { kind: 'create', snapshot: true })
  assert.deepEqual(decideStart(slot, 'pending', 'skip'), { kind: 'resume', from: 0x100n, snapshot: true }, 'a resync interrupted by a restart goes on')
})
