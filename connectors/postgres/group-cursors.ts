import type pg from 'pg'
import { errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.ts'

export interface GroupCursorsOptions {
  slot: string
  /** The group's syncs (configured): a recorded cursor of another sync no longer holds the slot (see admit, forget). */
  syncs: readonly string[]
  /** The slot's confirmed position when the group started. */
  slotStart: Lsn
  logger: Logger
  /** Tells the server the slot's confirmed position (a standby status on the replication connection). */
  send: (lsn: Lsn) => void
}

/**
 * The cursors of a stream group's syncs, kept in _rowcast.sync_state (confirmed_lsn of each sync's row): a
 * cursor is written as soon as it moves (writes coalesce: one UPDATE for every sync that moved meanwhile), and
 * the slot is confirmed at the lowest cursor written, so PostgreSQL never recycles WAL a sync still needs,
 * whether it runs, is parked, or waits for its next attempt. After a crash each sync resumes from its own
 * cursor: what it sends again is only of transactions committed above the cursor last written, i.e. its messages
 * in flight to Kafka at the crash and those acknowledged since the last completed write began (at most two
 * writes' round trips: one write is under way at a time). Writes follow acknowledgements, not a timer, and
 * coalesce: measured, one write per ~140–400 transactions of one row each for 10 syncs (bench/stream-group.ts).
 */
export class GroupCursors {
  readonly #client: pg.ClientBase
  readonly #options: GroupCursorsOptions
  /** Cursors as written: these hold the slot. */
  readonly #written = new Map<string, Lsn>()
  readonly #pending = new Map<string, Lsn>()
  /** The syncs whose cursors hold the slot: the configured ones (a reload admits and forgets). */
  readonly #syncs: Set<string>
  #writing: Promise<void> | null = null
  #sent: Lsn = 0n
  #sentAt = 0

  private constructor(client: pg.ClientBase, options: GroupCursorsOptions) {
    this.#client = client
    this.#options = options
    this.#syncs = new Set(options.syncs)
  }

  static async load(client: pg.ClientBase, options: GroupCursorsOptions): Promise<GroupCursors> {
    const cursors = new GroupCursors(client, options)
    const { rows } = await client.query<{ sync: string; cursor: string }>(
      'SELECT sync, confirmed_lsn::text AS cursor FROM _rowcast.sync_state WHERE slot = $1 AND sync = ANY($2) AND confirmed_lsn IS NOT NULL',
      [options.slot, options.syncs],
    )
    for (const row of rows) cursors.#written.set(row.sync, parseLsn(row.cursor))
    return cursors
  }

  get slotStart(): Lsn {
    return this.#options.slotStart
  }

  /** Where the slot may be confirmed: the lowest cursor written (the slot's own position while none is). */
  get lowest(): Lsn {
    let lowest: Lsn | null = null
    for (const cursor of this.#written.values()) if (lowest === null || cursor < lowest) lowest = cursor
    return lowest === null || lowest < this.#options.slotStart ? this.#options.slotStart : lowest
  }

  /** The position last sent to the server. */
  get sent(): Lsn {
    return this.#sent
  }

  /** Each sync's written cursor, for status. */
  get cursors(): ReadonlyMap<string, Lsn> {
    return this.#written
  }

  /** A sync joins the group (a reload added it): its cursor holds the slot once it is recorded (hold). */
  admit(sync: string): void {
    this.#syncs.add(sync)
  }

  /**
   * A sync leaves the group (a reload removed it, or moved it to a slot of its own): its cursor no longer holds
   * the slot, which moves on to the lowest of the others now. Its row in _rowcast.sync_state is kept.
   */
  forget(sync: string): void {
    this.#syncs.delete(sync)
    this.#written.delete(sync)
    this.#pending.delete(sync)
    this.#send(false)
  }

  /** A sync's cursor as recorded when it joins (written by then): it holds the slot from now on. */
  hold(sync: string, cursor: Lsn): void {
    if (this.#syncs.has(sync)) this.#written.set(sync, cursor)
  }

  /** A sync's cursor moved: written soon (with others that move meanwhile), then the slot follows. */
  changed(sync: string, cursor: Lsn): void {
    if (!this.#syncs.has(sync) || cursor <= (this.#written.get(sync) ?? 0n)) return
    this.#pending.set(sync, cursor)
    this.#startWrite()
  }

  /** Resolves once the cursors that moved are written. */
  async flush(): Promise<void> {
    while (this.#writing !== null) await this.#writing
  }

  /**
   * On a timer: the slot's position to the server at least every `intervalMs`, moved or not (keeps the walsender
   * alive); and cursors whose write failed are written again (a sync that delivered its last batch and went
   * idle moves no more: its delivered position would otherwise stay unrecorded, sent again after a crash).
   */
  tick(intervalMs: number): void {
    if (this.#pending.size > 0) this.#startWrite()
    if (Date.now() - this.#sentAt >= intervalMs) this.#send(true)
  }

  #startWrite(): void {
    this.#writing ??= this.#write().finally(() => (this.#writing = null))
  }

  async #write(): Promise<void> {
    await new Promise((r) => setImmediate(r)) // confirmations of the same moment go in one write
    while (this.#pending.size > 0) {
      const batch = [...this.#pending]
      this.#pending.clear()
      try {
        await this.#client.query(
          `UPDATE _rowcast.sync_state AS s SET confirmed_lsn = v.cursor::pg_lsn, confirmed_at = now()
           FROM unnest($1::text[], $2::text[]) AS v(sync, cursor)
           WHERE s.sync = v.sync AND s.slot = $3 AND (s.confirmed_lsn IS NULL OR s.confirmed_lsn < v.cursor::pg_lsn)`,
          [batch.map(([sync]) => sync), batch.map(([, cursor]) => formatLsn(cursor)), this.#options.slot],
        )
      } catch (error) {
        this.#options.logger.debug({ error: errorMessage(error) }, 'could not record the stream group\'s cursors')
        for (const [sync, cursor] of batch) if (this.#syncs.has(sync) && cursor > (this.#pending.get(sync) ?? 0n)) this.#pending.set(sync, cursor)
        return
      }
      // A sync forgotten while its write was in flight no longer holds the slot.
      for (const [sync, cursor] of batch) if (this.#syncs.has(sync) && cursor > (this.#written.get(sync) ?? 0n)) this.#written.set(sync, cursor)
      this.#send(false)
    }
  }

  #send(always: boolean): void {
    // Never back: with every cursor forgotten (the last sync left) the lowest falls to where the group started.
    const lowest = this.lowest > this.#sent ? this.lowest : this.#sent
    if (!always && lowest === this.#sent) return
    this.#sent = lowest
    this.#sentAt = Date.now()
    this.#options.send(lowest)
  }
}
