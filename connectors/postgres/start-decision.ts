import { formatLsn, type Lsn } from '../../core/lsn.ts'
import type { SlotState } from './slots.ts'
import type { BackfillState, RecordedStream } from './sync-state.ts'

/**
 * How a sync starts: from its slot, from a new slot, from a new slot and its snapshot (backfill, resync),
 * from a new slot replacing a lost one (a gap the user accepted), or not at all: the slot it streamed from
 * is gone, and going on silently would lose every change since the recorded position.
 */
export type StartDecision =
  | { kind: 'resume'; from: Lsn; snapshot: boolean }
  | { kind: 'create'; snapshot: boolean }
  | { kind: 'replace'; snapshot: boolean }
  | { kind: 'lost'; reason: string }

/** What the database says about the stream the sync read before (absent: decided as for a first start). */
export interface StreamHistory {
  sync: string
  slot: string
  recorded: RecordedStream | null
  server: { systemId: string; timeline: number }
  gapAccepted: boolean
  /** The slot of the daemon's stream group (`source.postgres.streamGroup.slot`): a sync that streamed there is told apart. */
  groupSlot?: string
  /**
   * When the server's timeline is not the recorded one: where the recorded timeline ended in the server's
   * history (timeline.ts), null when it is not an ancestor. Absent: not read (same timeline).
   */
  switchPoint?: Lsn | null
}

/**
 * The slot decision, from what the database holds, and whether a chunked snapshot runs beside the stream
 * (a resync, or a backfill not yet delivered): never a reason to drop a slot. A sync that has streamed before
 * resumes its slot, or stops when that slot vanished, was invalidated, or the database is another one,
 * unless the user accepted the gap, or the model is being re-sent (a resync, a backfill not yet delivered:
 * its snapshot starts over from the first row, from a new slot);
 * a sync that never streamed creates its slot.
 */
export function decideStart(slot: SlotState | null, backfill: BackfillState | null, initialSync: 'backfill' | 'skip', history?: StreamHistory): StartDecision {
  // A snapshot not yet delivered (a backfill, or a resync of any sync) goes on after a restart.
  const snapshot = backfill === 'resync' || backfill === 'pending' || (initialSync === 'backfill' && backfill !== 'done')
  const recorded = history?.recorded ?? null
  if (history !== undefined && recorded !== null) {
    const lost = lostBecause(slot, recorded, history)
    if (lost !== null) {
      // A resync, or a backfill not yet delivered, re-sends the model from its first row: it may go on from a new slot.
      if (history.gapAccepted || snapshot) return { kind: 'replace', snapshot }
      return { kind: 'lost', reason: describeGap(lost, recorded, history) }
    }
  }
  // Only a sync with no recorded stream gets here without its slot: a first start (or one from before rowcast recorded streams).
  if (slot === null) return { kind: 'create', snapshot }
  return { kind: 'resume', from: slot.confirmedFlush, snapshot }
}

function lostBecause(slot: SlotState | null, recorded: RecordedStream, history: StreamHistory): string | null {
  if (recorded.systemId !== history.server.systemId) {
    return `the database is not the one this sync streamed from (system identifier ${history.server.systemId}, recorded ${recorded.systemId}: restored, or another server under the same URL)`
  }
  if (slot === null && recorded.slot !== history.slot && recorded.slot === history.groupSlot) {
    return `it streamed in stream group "${recorded.slot}" (stream: shared) and now reads a slot of its own (stream: dedicated), "${history.slot}", which does not exist: rowcast does not move a sync's position out of a stream group, and a new slot would start past the changes in between`
  }
  if (slot === null && recorded.slot !== history.slot) return `it streamed from replication slot "${recorded.slot}" and now reads "${history.slot}", which does not exist: a new slot would start past the changes in between`
  if (slot === null) return `replication slot "${history.slot}" does not exist (dropped, or lost in a failover)`
  if (slot.walStatus === 'lost') return `replication slot "${history.slot}" was invalidated: PostgreSQL removed WAL it still needed (max_slot_wal_keep_size)`
  // Behind on the same timeline is PostgreSQL not having saved the slot's position before a restart: resent, not lost.
  if (history.server.timeline !== recorded.timeline) return timelineProblem(slot, recorded, history)
  return null
}

/**
 * A new timeline (a promoted standby, a restore) is safe to go on from only when everything rowcast confirmed,
 * and the slot's position, lie in the history the two timelines share: at or below the switch point where the
 * recorded timeline ended. A failover slot synced to the promoted standby is that case (its position trails
 * what the standby received); the changes between the slot's position and what rowcast confirmed are sent
 * again (at-least-once duplicates, bounded by the sync lag), none is lost. Anything else is another history.
 */
function timelineProblem(slot: SlotState, recorded: RecordedStream, history: StreamHistory): string | null {
  const on = `the server is on timeline ${history.server.timeline}, the sync streamed timeline ${recorded.timeline}`
  const fork = history.switchPoint
  if (fork === undefined || fork === null) return `${on}, which is not in the server's history (restored from another branch, or another server): the history it streamed diverged`
  if (recorded.confirmed > fork) {
    return `${on}, which ended at ${formatLsn(fork)}; rowcast had confirmed up to ${formatLsn(recorded.confirmed)} on it: changes it delivered past ${formatLsn(fork)} are not in this history (set synchronized_standby_slots on the primary so rowcast never gets ahead of the standby)`
  }
  if (slot.confirmedFlush > fork) return `${on}, which ended at ${formatLsn(fork)}; replication slot "${history.slot}" is at ${formatLsn(slot.confirmedFlush)}, past the branch point: it belongs to the other history`
  return null
}

function describeGap(why: string, recorded: RecordedStream, history: StreamHistory): string {
  // Moved off the slot it streamed from (stream: dedicated after shared, another slot:): going back is a third way on.
  const back = recorded.slot === history.slot || recorded.systemId !== history.server.systemId
    ? ''
    : recorded.slot === history.groupSlot
      ? `put \`stream: shared\` back (it resumes from its position if the group's slot, which no longer waits for it, has not moved past it); or `
      : `read slot "${recorded.slot}" again (\`slot: ${recorded.slot}\`) if it still exists; or `
  return (
    `sync "${history.sync}": ${why}. rowcast confirmed up to ${formatLsn(recorded.confirmed)} (at ${recorded.confirmedAt.toISOString()}; ` +
    `streaming from slot "${recorded.slot}" since ${recorded.since.toISOString()}); changes committed after that cannot be streamed. ` +
    `Either ${back}re-send the model: rowcast resync --sync ${history.sync}; or accept the gap and go on from a new slot: rowcast resync --sync ${history.sync} --accept-gap`
  )
}
