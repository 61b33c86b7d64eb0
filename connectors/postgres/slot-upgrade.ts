import type pg from 'pg'
import { concat, defer, tap, type Observable } from 'rxjs'
import type { Batch, SourceChange } from '../../core/changes.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.ts'
import type { GroupMember } from './group-member.ts'
import { ident } from './identifiers.ts'
import { dropSlot, readSlot } from './slots.ts'
import { emitHeartbeat, type ReplicationStream } from './stream.ts'
import { recordStream, withSetupLock, type RecordedStream } from './sync-state.ts'

/**
 * Moving a sync from a replication slot of its own (`stream: dedicated`, or a version before stream groups) into
 * its stream group, without losing or re-sending changes. The group's slot cannot be read before its own start,
 * and PostgreSQL reads publications as of the position decoded: the group's publication names the sync's table
 * only from the moment it was added. So the sync hands over at H, a position read after its table joined the
 * group's publication: its old slot is drained (a dedicated stream that stops before the first transaction
 * committing at H or later), then it streams from the group from H (where it skips what commits before H). H is
 * recorded as the sync's cursor in the group at once (the group's slot keeps WAL from H for it), with the old
 * slot in _rowcast.slot_upgrades, so a restart mid-way drains the rest. The old slot (and the sync's own
 * publication) is dropped once everything read from it is delivered: the sync's position is then H or later.
 */

/** An upgrade under way: the old slot and publication, where it was, where the sync hands over to the group. */
export interface SlotUpgrade {
  sync: string
  group: string
  oldSlot: string
  oldPublication: string
  /** The old slot's confirmed position when the upgrade began (for the log). */
  oldPosition: Lsn
  handoff: Lsn
  /** Where the old slot is drained from (its confirmed position now); null: nothing left to drain. */
  drainFrom: Lsn | null
}

export interface UpgradeContext {
  sync: string
  group: { slot: string; hold(sync: string, cursor: Lsn): void }
  /** The stream the sync recorded last (in _rowcast.sync_state). */
  recorded: RecordedStream | null
  /** The sync's own publication (the old slot's). */
  publication: string
  server: { systemId: string; timeline: number }
  logger: Logger
}

/**
 * The upgrade of this sync into its group: one under way (from an earlier start), one beginning now (the sync
 * last streamed from a slot of its own that still exists), or null (nothing to move). Call after the sync's
 * table is in the group's publication (committed).
 */
export async function planUpgrade(control: pg.ClientBase, context: UpgradeContext): Promise<SlotUpgrade | null> {
  const { sync, group, recorded, logger } = context
  await withSetupLock(control, async () => void (await control.query(UPGRADES_TABLE_SQL)))
  const pending = await readPending(control, sync, group.slot)
  // A move under way, unless the sync streamed from elsewhere since (switched back to dedicated): then it starts afresh.
  if (pending !== null && recorded?.slot === group.slot) return resumeUpgrade(control, pending, recorded, logger)
  if (recorded === null || recorded.slot === group.slot || recorded.systemId !== context.server.systemId) return null
  const old = await readSlot(control, recorded.slot)
  if (old === null) return null
  if (old.walStatus === 'lost') {
    throw new RowcastError('PG_SLOT_LOST', `sync "${sync}": its replication slot "${recorded.slot}" was invalidated (PostgreSQL removed WAL it still needed) before it could move into stream group "${group.slot}". Either re-send the model: rowcast resync --sync ${sync}; or accept the gap: rowcast resync --sync ${sync} --accept-gap`)
  }
  const handoff = parseLsn((await control.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn)
  const upgrade: SlotUpgrade = { sync, group: group.slot, oldSlot: recorded.slot, oldPublication: context.publication, oldPosition: old.confirmedFlush, handoff, drainFrom: old.confirmedFlush < handoff ? old.confirmedFlush : null }
  // One transaction: the group's cursor at H is never recorded without the old slot to drain up to it.
  await control.query('BEGIN')
  try {
    await control.query(
      `INSERT INTO _rowcast.slot_upgrades (sync, grp, old_slot, old_publication, old_position, handoff) VALUES ($1, $2, $3, $4, $5::pg_lsn, $6::pg_lsn)
       ON CONFLICT (sync) DO UPDATE SET grp = $2, old_slot = $3, old_publication = $4, old_position = $5::pg_lsn, handoff = $6::pg_lsn, started_at = now(), finished_at = NULL`,
      [sync, group.slot, upgrade.oldSlot, upgrade.oldPublication, formatLsn(upgrade.oldPosition), formatLsn(handoff)],
    )
    await recordStream(control, sync, { ...context.server, slot: group.slot, position: handoff, fresh: true })
    await control.query('COMMIT')
  } catch (error) {
    await control.query('ROLLBACK').catch(() => undefined)
    throw error
  }
  group.hold(sync, handoff)
  logger.info(
    { sync, oldSlot: upgrade.oldSlot, position: formatLsn(upgrade.oldPosition), group: group.slot, handoff: formatLsn(handoff) },
    `sync "${sync}" moves from its own replication slot "${upgrade.oldSlot}" (confirmed up to ${formatLsn(upgrade.oldPosition)}) into stream group "${group.slot}": it reads the old slot up to ${formatLsn(handoff)}, then the group's stream from there; the old slot is dropped once that is delivered`,
  )
  // A transaction committing past H ends the drain at once, even if nothing else is written.
  if (upgrade.drainFrom !== null) await emitHeartbeat(control)
  return upgrade
}

/** The old slot is no longer needed: drops it and the sync's own publication, and records the upgrade as done. */
export async function finishUpgrade(control: pg.ClientBase, upgrade: SlotUpgrade, logger: Logger): Promise<void> {
  await dropSlot(control, upgrade.oldSlot)
  // The group reads its own publication: the sync's one only served the old slot.
  if (upgrade.oldPublication !== upgrade.group) await control.query(`DROP PUBLICATION IF EXISTS ${ident(upgrade.oldPublication)}`)
  await control.query('UPDATE _rowcast.slot_upgrades SET finished_at = now() WHERE sync = $1 AND old_slot = $2', [upgrade.sync, upgrade.oldSlot])
  logger.info(
    { sync: upgrade.sync, oldSlot: upgrade.oldSlot, position: formatLsn(upgrade.oldPosition), group: upgrade.group, handoff: formatLsn(upgrade.handoff) },
    `sync "${upgrade.sync}" moved into stream group "${upgrade.group}": dropped its replication slot "${upgrade.oldSlot}" and publication "${upgrade.oldPublication}" (everything before ${formatLsn(upgrade.handoff)} is delivered)`,
  )
}

/** The slots this sync streamed from before it moved into its group (exactly-once progress written there is its own). */
export async function formerSlots(control: pg.ClientBase, sync: string, group: string): Promise<string[]> {
  const { rows } = await control.query<{ old_slot: string }>('SELECT old_slot FROM _rowcast.slot_upgrades WHERE sync = $1 AND grp = $2', [sync, group])
  return rows.map((row) => row.old_slot)
}

/**
 * A sync's stream during its upgrade: the old slot's batches up to the hand-off, then the group member's from it.
 * Shaped like ReplicationStream and GroupMember (the source confirms, pauses and resumes it the same way).
 * `drained` is called once everything read from the old slot is delivered.
 */
export class UpgradeStream {
  readonly #drain: ReplicationStream
  readonly #member: GroupMember
  readonly #upgrade: SlotUpgrade
  readonly #isIdle: () => boolean
  readonly #drained: () => void
  #phase: 'drain' | 'group' = 'drain'
  /** The last transaction read from the old slot (null: none). */
  #last: Lsn | null = null
  #confirmed: Lsn = 0n
  #done = false
  #poll: NodeJS.Timeout | null = null

  constructor(drain: ReplicationStream, member: GroupMember, upgrade: SlotUpgrade, isIdle: () => boolean, drained: () => void) {
    this.#drain = drain
    this.#member = member
    this.#upgrade = upgrade
    this.#isIdle = isIdle
    this.#drained = drained
  }

  get confirmed(): Lsn {
    return this.#phase === 'drain' ? this.#drain.confirmed : this.#member.confirmed
  }

  batches(start: Lsn): Observable<Batch<SourceChange>> {
    const { handoff } = this.#upgrade
    return defer(() => {
      this.#phase = 'drain'
      this.#confirmed = start
      const drained = this.#drain.batches(start).pipe(tap((batch) => {
        if (batch.commitLsn !== null) this.#last = batch.commitLsn
      }))
      const grouped = defer(() => {
        this.#phase = 'group'
        this.#check()
        // An idle sync confirms nothing more: its last batches delivered are seen by the pipeline's idle state.
        this.#poll ??= setInterval(() => this.#check(), 500)
        this.#poll.unref()
        return this.#member.batches(handoff)
      })
      return concat(drained, grouped).pipe(tap({ finalize: () => this.#stopPoll() }))
    })
  }

  confirm(lsn: Lsn): void {
    if (lsn > this.#confirmed) this.#confirmed = lsn
    if (this.#phase === 'drain') this.#drain.confirm(lsn)
    else {
      this.#member.confirm(lsn)
      this.#check()
    }
  }

  pause(): void {
    this.#drain.pause()
    this.#member.pause()
  }

  resume(): void {
    this.#drain.resume()
    this.#member.resume()
  }

  #check(): void {
    if (this.#done || this.#phase !== 'group') return
    if (this.#last !== null && this.#confirmed < this.#last && !this.#isIdle()) return
    this.#done = true
    this.#stopPoll()
    this.#drained()
  }

  #stopPoll(): void {
    if (this.#poll !== null) clearInterval(this.#poll)
    this.#poll = null
  }
}

const UPGRADES_TABLE_SQL = `CREATE TABLE IF NOT EXISTS _rowcast.slot_upgrades (
  sync text PRIMARY KEY,
  grp text NOT NULL,
  old_slot text NOT NULL,
  old_publication text NOT NULL,
  old_position pg_lsn NOT NULL,
  handoff pg_lsn NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz)`

async function readPending(control: pg.ClientBase, sync: string, group: string): Promise<SlotUpgrade | null> {
  const { rows } = await control.query<{ old_slot: string; old_publication: string; old_position: string; handoff: string }>(
    'SELECT old_slot, old_publication, old_position::text AS old_position, handoff::text AS handoff FROM _rowcast.slot_upgrades WHERE sync = $1 AND grp = $2 AND finished_at IS NULL',
    [sync, group],
  )
  const row = rows[0]
  if (row === undefined) return null
  return { sync, group, oldSlot: row.old_slot, oldPublication: row.old_publication, oldPosition: parseLsn(row.old_position), handoff: parseLsn(row.handoff), drainFrom: null }
}

/**
 * An upgrade begun by an earlier start: the old slot is drained on from where it stands, unless it is past the
 * hand-off, or the sync already streamed from the group past it (everything read from the old slot was delivered).
 */
async function resumeUpgrade(control: pg.ClientBase, upgrade: SlotUpgrade, recorded: RecordedStream | null, logger: Logger): Promise<SlotUpgrade | null> {
  const old = await readSlot(control, upgrade.oldSlot)
  if (old === null) {
    await finishUpgrade(control, upgrade, logger).catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'could not record the upgrade as done'))
    return null
  }
  const past = recorded !== null && recorded.slot === upgrade.group && recorded.confirmed > upgrade.handoff
  const drainFrom = past || old.confirmedFlush >= upgrade.handoff ? null : old.confirmedFlush
  logger.info({ sync: upgrade.sync, oldSlot: upgrade.oldSlot, position: formatLsn(old.confirmedFlush), group: upgrade.group, handoff: formatLsn(upgrade.handoff) }, drainFrom === null
    ? `sync "${upgrade.sync}": its move into stream group "${upgrade.group}" is delivered; dropping its old replication slot "${upgrade.oldSlot}"`
    : `sync "${upgrade.sync}" goes on moving into stream group "${upgrade.group}": reading its old replication slot "${upgrade.oldSlot}" from ${formatLsn(old.confirmedFlush)} up to ${formatLsn(upgrade.handoff)}`)
  if (drainFrom !== null) await emitHeartbeat(control)
  return { ...upgrade, drainFrom }
}
