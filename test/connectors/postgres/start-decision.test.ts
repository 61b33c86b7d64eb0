import { test } from 'node:test'
import assert from 'node:assert/strict'
import { decideStart, type StreamHistory } from '../../../connectors/postgres/start-decision.ts'

/** The slot decision once a sync has streamed: a vanished or invalidated slot, or another database, is a loud stop. */
const slot = { confirmedFlush: 0x200n, activePid: null, walStatus: 'reserved' }
const recorded = { systemId: '7300000000000000001', slot: 'rowcast_users', timeline: 1, confirmed: 0x200n, confirmedAt: new Date('2026-12-01T10:00:00Z'), since: new Date('2026-11-30T08:00:00Z') }
const history = (over: Partial<StreamHistory> = {}): StreamHistory => ({ sync: 'users', slot: 'rowcast_users', recorded, server: { systemId: recorded.systemId, timeline: 1 }, gapAccepted: false, ...over })

function lostReason(decision: ReturnType<typeof decideStart>): string {
  assert.equal(decision.kind, 'lost')
  return (decision as { reason: string }).reason
}

test('a sync that never streamed (no recorded stream) decides as before: create, or snapshot for a backfill', () => {
  assert.deepEqual(decideStart(null, null, 'skip', history({ recorded: null })), { kind: 'create', snapshot: false })
  assert.deepEqual(decideStart(null, null, 'backfill', history({ recorded: null })), { kind: 'create', snapshot: true })
  assert.deepEqual(decideStart(slot, null, 'skip', history({ recorded: null })), { kind: 'resume', from: 0x200n, snapshot: false })
})

test('its slot still there and valid: resumed, also when the slot is behind on the same timeline (a restart lost its saved position)', () => {
  assert.deepEqual(decideStart(slot, null, 'skip', history()), { kind: 'resume', from: 0x200n, snapshot: false })
  assert.deepEqual(decideStart({ ...slot, confirmedFlush: 0x100n }, 'done', 'backfill', history()), { kind: 'resume', from: 0x100n, snapshot: false })
})

test('a missing slot of a sync that streamed before is lost, never re-created: skip and backfill-done alike; the gap and both ways on are named', () => {
  for (const [backfill, initialSync] of [[null, 'skip'], ['done', 'skip'], ['done', 'backfill']] as const) {
    const reason = lostReason(decideStart(null, backfill, initialSync, history()))
    assert.match(reason, /replication slot "rowcast_users" does not exist/)
    assert.match(reason, /confirmed up to 0\/200 \(at 2026-12-01T10:00:00.000Z/)
    assert.match(reason, /since 2026-11-30T08:00:00.000Z/)
    assert.match(reason, /rowcast resync --sync users;/)
    assert.match(reason, /rowcast resync --sync users --accept-gap/)
  }
})

test('an invalidated slot (wal_status lost), or another database, are lost too', () => {
  assert.match(lostReason(decideStart({ ...slot, walStatus: 'lost' }, null, 'skip', history())), /invalidated/)
  assert.match(lostReason(decideStart(slot, null, 'skip', history({ server: { systemId: '999', timeline: 1 } }))), /system identifier 999, recorded 7300000000000000001/)
})

test('a new timeline: resumed only when what rowcast confirmed and the slot lie in the shared history (at or below the switch point)', () => {
  const promoted = (switchPoint: bigint | null | undefined) => history({ server: { systemId: recorded.systemId, timeline: 2 }, switchPoint })
  // A failover slot synced to the promoted standby trails what rowcast confirmed: resent from the slot, nothing lost.
  assert.deepEqual(decideStart({ ...slot, confirmedFlush: 0x180n }, null, 'skip', promoted(0x300n)), { kind: 'resume', from: 0x180n, snapshot: false })
  assert.deepEqual(decideStart(slot, null, 'skip', promoted(0x200n)), { kind: 'resume', from: 0x200n, snapshot: false }, 'confirmed exactly at the switch point')
  // rowcast delivered changes past the branch point: they are not in the new history.
  assert.match(lostReason(decideStart({ ...slot, confirmedFlush: 0x100n }, null, 'skip', promoted(0x1f0n))), /ended at 0\/1F0; rowcast had confirmed up to 0\/200 on it.*synchronized_standby_slots/)
  assert.match(lostReason(decideStart({ ...slot, confirmedFlush: 0x400n }, null, 'skip', promoted(0x300n))), /slot "rowcast_users" is at 0\/400, past the branch point/)
  // The recorded timeline is not an ancestor of the server's (or its history could not be read): another history.
  assert.match(lostReason(decideStart(slot, null, 'skip', promoted(null))), /timeline 2, the sync streamed timeline 1, which is not in the server's history/)
  assert.match(lostReason(decideStart(slot, null, 'skip', promoted(undefined))), /not in the server's history/)
  // Still a lost slot first: a promoted standby without the (failover) slot.
  assert.match(lostReason(decideStart(null, null, 'skip', promoted(0x300n))), /does not exist/)
})

test('an accepted gap replaces a lost slot with a new one (no snapshot); it changes nothing while the slot is fine', () => {
  assert.deepEqual(decideStart(null, 'done', 'backfill', history({ gapAccepted: true })), { kind: 'replace', snapshot: false })
  assert.deepEqual(decideStart({ ...slot, walStatus: 'lost' }, null, 'skip', history({ gapAccepted: true })), { kind: 'replace', snapshot: false })
  assert.deepEqual(decideStart(slot, null, 'skip', history({ gapAccepted: true })), { kind: 'resume', from: 0x200n, snapshot: false })
})

test('a resync, or a backfill not yet delivered, re-sends the model from a new slot when the slot is lost; with its slot fine, it keeps it', () => {
  assert.deepEqual(decideStart(null, 'resync', 'skip', history()), { kind: 'replace', snapshot: true })
  assert.deepEqual(decideStart({ ...slot, walStatus: 'lost' }, 'resync', 'skip', history()), { kind: 'replace', snapshot: true })
  assert.deepEqual(decideStart(null, 'pending', 'backfill', history()), { kind: 'replace', snapshot: true })
  assert.deepEqual(decideStart(slot, 'resync', 'skip', history()), { kind: 'resume', from: 0x200n, snapshot: true })
  assert.deepEqual(decideStart(slot, 'pending', 'backfill', history()), { kind: 'resume', from: 0x200n, snapshot: true })
})

test('a sync that streamed in its stream group and now reads a slot of its own (stream: dedicated) stops, naming the group and the ways on, going back among them', () => {
  const inGroup = { ...recorded, slot: 'rowcast_group' }
  const reason = lostReason(decideStart(null, 'done', 'skip', history({ recorded: inGroup, groupSlot: 'rowcast_group' })))
  assert.match(reason, /^sync "users": it streamed in stream group "rowcast_group" \(stream: shared\) and now reads a slot of its own \(stream: dedicated\), "rowcast_users", which does not exist/)
  assert.match(reason, /confirmed up to 0\/200/)
  assert.match(reason, /put `stream: shared` back/)
  assert.match(reason, /rowcast resync --sync users;/)
  assert.match(reason, /rowcast resync --sync users --accept-gap/)
  // Another slot name than the one it streamed from, outside any group: named as such.
  const renamed = lostReason(decideStart(null, null, 'skip', history({ recorded: { ...recorded, slot: 'old_slot' }, groupSlot: 'rowcast_group' })))
  assert.match(renamed, /it streamed from replication slot "old_slot" and now reads "rowcast_users", which does not exist/)
  assert.match(renamed, /`slot: old_slot`/)
  // A resync, or an accepted gap, goes on from a new slot of its own.
  assert.deepEqual(decideStart(null, 'resync', 'skip', history({ recorded: inGroup, groupSlot: 'rowcast_group' })), { kind: 'replace', snapshot: true })
  assert.deepEqual(decideStart(null, 'done', 'skip', history({ recorded: inGroup, groupSlot: 'rowcast_group', gapAccepted: true })), { kind: 'replace', snapshot: false })
})
