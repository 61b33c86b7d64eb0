import pg from 'pg'
import { concatMap, defer, EMPTY, finalize, from, merge, of, Subject, type Observable } from 'rxjs'
import type { Batch, ColumnInfo, SnapshotMark, SourceChange } from '../../core/changes.ts'
import type { ChangeSource, ChangeSourceEvents, SourceIdentity } from '../../core/contracts.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.ts'
import { describeTable, type TableInfo } from './catalog.ts'
import { addToGroupPublication, describeRunning, ensurePublication, waitForRunningTransactions, type PublicationSpec } from './publication.ts'
import type { ShapeOptions } from './relation-shape.ts'
import { settleShape } from './shape-record.ts'
import { reselectUnchangedToast, type ReselectSpec } from './reselect-toast.ts'
import { createSlot, dropSlot, readSlot, serverMajor } from './slots.ts'
import { SnapshotCoordinator } from './snapshot-coordinator.ts'
import { resolveHost } from './hosts.ts'
import { readSwitchPoint } from './timeline.ts'
import { whileNudgingPrimary } from './standby.ts'
import { decideStart } from './start-decision.ts'
import { emitHeartbeat, ReplicationStream, type ReplicationStreamOptions } from './stream.ts'
import { finishUpgrade, formerSlots, planUpgrade, UpgradeStream, type SlotUpgrade } from './slot-upgrade.ts'
import type { StreamGroup } from './stream-group.ts'
import type { GroupMember, MemberSpec } from './group-member.ts'
import {
  ensureStateTable, withSetupLock, readBackfillState, type RecordedStream, readRecordedStream, readServerIdentity, recordConfirmed, recordStream, tryLockSync,
} from './sync-state.ts'
import { sessionConfig } from './session.ts'
import { keepLockSessionLive } from './lock-liveness.ts'

export interface PostgresSourceOptions {
  url: string
  /** The sync this source feeds: names its lock and its row in _rowcast.sync_state. */
  sync: string
  initialSync: 'backfill' | 'skip'
  heartbeatIntervalMs: number
  statusIntervalMs: number
  /** Create slots with failover = true where the server supports it (17+). */
  failoverSlots?: boolean
  /**
   * When `url` is a standby (decoding on a standby, 16+): the primary, which holds rowcast's state, the
   * publication, the lock and the heartbeats (a standby is read-only); the slot and the stream stay on `url`.
   */
  primaryUrl?: string
  /** The daemon's stream group slot (source.postgres.streamGroup.slot): a dedicated sync that streamed there stops saying so. */
  groupSlot?: string
  /** pgoutput's origin filter: 'none' skips changes applied from another server (PostgreSQL 16+). */
  origin?: 'any' | 'none'
  /**
   * A frozen daemon loses the sync's lock and slot after this long (idle_session_timeout on the lock session,
   * wal_sender_timeout on the replication session), so a standby takes over; 0: no bound (keepalives only).
   */
  takeoverTimeoutMs?: number
  /** A transaction (or snapshot read) larger than this flows in batches of this size. */
  maxBatchRows: number
  /** Rows per chunk of the snapshot read beside the stream (backfill, resync). */
  chunkRows: number
  /** A read time per snapshot chunk its rows adapt to (none: always chunkRows). */
  chunkTimeMs?: number
  /** Snapshot chunks read at once, each on its own connection (default 1). */
  snapshotParallelism?: number
  /** A ceiling on snapshot rows per second (none: as fast as Kafka takes them). */
  maxSnapshotRowsPerSecond?: number
  /**
   * A snapshot chunk's rows go into the stream `rows` at a time, between its transactions, each slice only
   * while fewer than `maxInFlightMessages` messages are in flight to Kafka (`events.inFlightMessages`): live
   * changes never queue behind a whole chunk. Absent: each chunk whole at its high watermark (exactly-once).
   */
  snapshotSlices?: { rows: number; maxInFlightMessages: number }
  /**
   * The stream group this sync reads through (`stream: shared`): the group holds the lock, the slot and the
   * heartbeats; the sync keeps its own cursor. Absent: the sync's own slot and lock (`stream: dedicated`).
   */
  group?: StreamGroup
  logger: Logger
  events: PostgresSourceEvents
}

export interface PostgresSourceEvents extends ChangeSourceEvents {
  onTruncate?(tables: string[]): void
  /** The server's WAL end from keep-alives, for replication lag. */
  onServerPosition?(lsn: Lsn): void
  /** A snapshot chunk was placed in the stream: rows sent so far, the estimated total, the chunk's rows. */
  onSnapshotProgress?(done: number, total: number, chunkRows: number): void
  /** A stream group parked this sync (it holds the slot at `position`), or it caught up again (false). */
  onParked?(parked: boolean, position: Lsn): void
}

/** What the source streams, decided from the model: slot, publication, and the columns to decode. */
export interface StreamSpec {
  slot: string
  publication: PublicationSpec
  /** The model's table (schema.table). */
  table: string
  /** The columns the stream decodes (the model's) and what a change of the table's shape does; other columns are skipped. */
  shape: ShapeOptions
  /** The columns the snapshot reads (classify projects them to the model). */
  snapshotColumns: readonly ColumnInfo[]
  /** The model's key: the snapshot reads in its order and matches the stream's changes by it; empty: no key (page ranges, whole rows). */
  keyColumns: readonly string[]
  filter: string | null
  /** Read back the large values an UPDATE left unchanged (identity not FULL, `model.unchangedToast: reselect`); null: don't. */
  reselect?: ReselectSpec | null
  /** A messages sync: its logical messages (prefix starting with this) are streamed; no table, no snapshot. */
  messagePrefix?: string
}

export { decideStart, type StartDecision } from './start-decision.ts'

const LOCK_POLL_MS = 2_000
const RESYNC_POLL_MS = 5_000
/** The confirmed position recorded in _rowcast.sync_state at most this often (a vanished slot's gap starts there). */
const RECORD_CONFIRMED_MS = 5_000
/** How long one step of closing may take before it is left behind (a dead link never answers). */
const CLOSE_STEP_MS = 5_000

function bounded(step: Promise<unknown> | unknown): Promise<unknown> {
  return Promise.race([Promise.resolve(step).catch(() => undefined), new Promise((r) => setTimeout(r, CLOSE_STEP_MS).unref())])
}

/**
 * The PostgreSQL source of one sync, a coordinator over its connections: the control connection holds the
 * sync's lock (one daemon streams a sync; another waits to take over), reads the catalog, sets up the
 * publication and slot, decides between snapshot-then-stream and stream, writes heartbeats, and watches for
 * a requested resync (which ends the batches, so the attempt drains and the next one starts over).
 * Use: `connect` (waits for the lock), `describeTable`, `prepare`, then the ChangeSource.
 */
export class PostgresSource implements ChangeSource {
  readonly #options: PostgresSourceOptions
  readonly #control: pg.Client
  /** The attempt's stop: ends a wait in `prepare` that could last (transactions a user left open). */
  readonly #signal: AbortSignal
  /** Where the slot lives and is streamed from: the control connection, or the standby when decoding on one. */
  #slots: pg.Client
  readonly #failure = new Subject<never>()
  readonly #releases: (() => Promise<void> | void)[] = []
  #stream: ReplicationStream | GroupMember | UpgradeStream | null = null
  #upgrade: SlotUpgrade | null = null
  #batches: Observable<Batch<SourceChange>> = EMPTY
  #start: Lsn = 0n
  #snapshot: SnapshotCoordinator | null = null
  #paused = false
  #capacityWaiters: (() => void)[] = []
  #closed = false
  #recorded = { position: 0n, at: 0, writing: false }
  #identity: SourceIdentity | null = null

  private constructor(options: PostgresSourceOptions, control: pg.Client, signal: AbortSignal) {
    this.#options = options
    this.#control = control
    this.#signal = signal
    this.#slots = control
    control.on('error', (error) => this.#failure.error(new RowcastError('PG_CONNECTION_LOST', `PostgreSQL connection lost: ${error.message}`, { cause: error })))
    // The lock lives on this session: once it ends the lock may be another daemon's, so the attempt stops now.
    control.on('end', () => {
      if (!this.#closed) this.#failure.error(new RowcastError('PG_CONNECTION_LOST', 'the connection holding this sync\'s lock ended: the lock is lost'))
    })
    this.#releases.push(() => control.end().catch(() => undefined))
  }

  /** Connects and takes the sync's lock, waiting while another daemon holds it; null when `signal` aborts meanwhile. */
  static async connect(given: PostgresSourceOptions, signal: AbortSignal): Promise<PostgresSource | null> {
    // A multi-host URL is resolved at each attempt: after a failover the next attempt finds the new primary.
    const options = { ...given, url: await resolveHost(given.url), ...(given.primaryUrl === undefined ? {} : { primaryUrl: await resolveHost(given.primaryUrl) }) }
    const control = await connectClient(options.primaryUrl ?? options.url)
    const source = new PostgresSource(options, control, signal)
    try {
      if (options.primaryUrl !== undefined) source.#slots = await source.#connectStandby(options.url)
      if (options.group !== undefined) {
        // The group's lock covers its syncs: the group's own connection holds it.
        if (await options.group.acquire(signal)) return source
        await source.close()
        return null
      }
      let waiting = false
      while (!(await tryLockSync(control, options.sync))) {
        if (!waiting) options.logger.info('another rowcast streams this sync; waiting to take over')
        waiting = true
        if (signal.aborted) break
        await new Promise((r) => setTimeout(r, LOCK_POLL_MS))
      }
      if (!signal.aborted) {
        const takeover = options.takeoverTimeoutMs ?? 0
        if (takeover > 0) source.#releases.push(await keepLockSessionLive(control, takeover, options.logger))
        return source
      }
    } catch (error) {
      await source.close()
      throw error
    }
    await source.close()
    return null
  }

  async #connectStandby(url: string): Promise<pg.Client> {
    const standby = await connectClient(url)
    standby.on('error', (error) => this.#failure.error(new RowcastError('PG_CONNECTION_LOST', `PostgreSQL standby connection lost: ${error.message}`, { cause: error })))
    this.#releases.push(() => standby.end().catch(() => undefined))
    return standby
  }

  describeTable(table: string): Promise<TableInfo | null> {
    return describeTable(this.#control, table)
  }

  /** Sets up publication and slot and decides where the batches start. */
  async prepare(spec: StreamSpec): Promise<void> {
    const { logger, sync, initialSync } = this.#options
    const control = this.#control
    await ensureStateTable(control)
    if (this.#options.group !== undefined) return this.#prepareMember(spec, this.#options.group)
    await ensurePublication(control, spec.publication)
    const { database, ...server } = await readServerIdentity(control)
    this.#identity = { systemId: server.systemId, database, slot: spec.slot }
    const { stream: recorded, gapAccepted } = await readRecordedStream(control, sync)
    const slots = this.#slots
    const slot = await readSlot(slots, spec.slot)
    const backfill = await readBackfillState(control, sync)
    const switchPoint = recorded !== null && recorded.systemId === server.systemId && recorded.timeline !== server.timeline
      ? await readSwitchPoint(this.#options.url, recorded.timeline, server.timeline)
      : undefined
    const decision = decideStart(slot, backfill, initialSync, { sync, slot: spec.slot, recorded, server, gapAccepted, switchPoint, ...(this.#options.groupSlot === undefined ? {} : { groupSlot: this.#options.groupSlot }) })
    // A slot on a standby cannot be a failover slot (PostgreSQL refuses); its creation waits for the primary.
    const onStandby = this.#options.primaryUrl !== undefined
    const slotOptions = { failover: !onStandby && this.#options.failoverSlots === true && (await serverMajor(slots)) >= 17 }
    const creating = <T>(work: Promise<T>): Promise<T> => (onStandby ? whileNudgingPrimary(control, work) : work)
    if (decision.kind === 'lost') throw new RowcastError('PG_SLOT_LOST', decision.reason)
    if (decision.kind === 'resume') this.#start = decision.from
    else {
      if (decision.kind === 'replace') {
        if (slot !== null) await dropSlot(slots, spec.slot)
        if (decision.snapshot) logger.warn({ slot: spec.slot }, 'the slot is lost: re-sending the model from its first row, from a new slot')
        else logger.warn({ slot: spec.slot, from: recorded === null ? null : formatLsn(recorded.confirmed) }, 'gap accepted (rowcast resync --accept-gap): streaming from a new slot; changes since the recorded position are not sent')
      }
      this.#start = await creating(createSlot(slots, spec.slot, slotOptions))
      logger.info({ slot: spec.slot, lsn: formatLsn(this.#start), failover: slotOptions.failover }, 'created replication slot')
    }
    // A backfill or resync reads the model in chunks beside the stream: the slot is never dropped for it.
    // Logical messages are kept nowhere but the WAL: a messages sync has nothing to read beside it.
    this.#snapshot = spec.messagePrefix === undefined ? this.#snapshotOf(spec) : null
    await this.#snapshot?.prepare(decision.snapshot, backfill !== 'pending' || decision.kind !== 'resume')
    // From here on the slot is this sync's stream: should it vanish, the next start stops loudly.
    await recordStream(control, sync, { ...server, slot: spec.slot, position: this.#start, fresh: decision.kind !== 'resume' })
    this.#recorded = { position: this.#start, at: Date.now(), writing: false }
    const shape = spec.messagePrefix === undefined ? await settleShape(control, sync, spec.shape, decision.kind !== 'resume') : spec.shape
    this.#batches = this.#read({ ...spec, shape })
  }

  /**
   * A member of a stream group starts from its cursor (its recorded confirmed position in the group's slot), or
   * from the server's current position the first time (with its snapshot beside the stream for a backfill).
   * A cursor below the group's slot (the slot was replaced) is a gap, as a lost slot is for a dedicated sync.
   */
  async #prepareMember(spec: StreamSpec, group: StreamGroup): Promise<void> {
    const { sync, initialSync, logger } = this.#options
    const control = this.#control
    let published = false
    await withSetupLock(control, async () => void (published = await addToGroupPublication(control, group.slot, spec.publication)))
    const { database, ...server } = await readServerIdentity(control)
    const before = await readRecordedStream(control, sync)
    // A sync that streamed from a slot of its own moves into the group (slot-upgrade.ts): its cursor is recorded there now.
    const upgrade = await planUpgrade(control, { sync, group, recorded: before.stream, publication: spec.publication.name, server, logger: this.#options.logger })
    const { stream: recorded, gapAccepted } = upgrade === null ? before : await readRecordedStream(control, sync)
    this.#identity = { systemId: server.systemId, database, slot: group.slot, formerSlots: await formerSlots(control, sync, group.slot) }
    const backfill = await readBackfillState(control, sync)
    const snapshot = backfill === 'resync' || backfill === 'pending' || (initialSync === 'backfill' && backfill !== 'done')
    const resumed = recorded !== null && recorded.slot === group.slot && recorded.systemId === server.systemId
    let cursor: Lsn
    if (resumed && recorded.confirmed >= group.slotPosition) cursor = recorded.confirmed
    else if (resumed && !gapAccepted && !snapshot) {
      throw new RowcastError('PG_SLOT_LOST', `sync "${sync}": its position ${formatLsn(recorded.confirmed)} is behind the stream group's slot "${group.slot}" (at ${formatLsn(group.slotPosition)}): changes in between cannot be streamed. Either re-send the model: rowcast resync --sync ${sync}; or accept the gap: rowcast resync --sync ${sync} --accept-gap`)
    } else {
      // Its table just joined the publication: a transaction that wrote it before and commits after would reach it
      // partly; the sync starts past every such commit (its snapshot reads what they wrote).
      // It streamed from a slot of its own that is gone now: the changes since its position are nowhere to move from.
      if (recorded !== null && recorded.slot !== group.slot && recorded.systemId === server.systemId && !gapAccepted && !snapshot && (await readSlot(control, recorded.slot)) === null) {
        throw new RowcastError('PG_SLOT_LOST', `sync "${sync}": its replication slot "${recorded.slot}" (confirmed up to ${formatLsn(recorded.confirmed)}) no longer exists, so the changes since then cannot be moved into stream group "${group.slot}". Either re-send the model: rowcast resync --sync ${sync}; or accept the gap: rowcast resync --sync ${sync} --accept-gap`)
      }
      if (published) {
        await waitForRunningTransactions(control, (running, waitedMs, first) => {
          const about = `transactions that were running when ${spec.table} joined the stream group's publication (one that wrote it and commits later would reach this sync only in part)`
          if (first) logger.info({ table: spec.table, count: running.length }, `waiting for ${running.length} ${about}`)
          else logger.warn({ table: spec.table, waitedSeconds: Math.round(waitedMs / 1000), running }, `sync "${sync}" still waits, after ${Math.round(waitedMs / 1000)} s, for ${running.length} ${about}: ${running.map(describeRunning).join('; ')}. End them (COMMIT, ROLLBACK, or pg_terminate_backend(pid)) and it starts`)
        }, undefined, undefined, this.#signal)
      }
      cursor = await migrateOrStart(control, sync, recorded, group)
    }
    this.#start = cursor
    if (upgrade !== null && upgrade.drainFrom === null) await finishUpgrade(control, upgrade, this.#options.logger)
    else if (upgrade !== null) {
      this.#upgrade = upgrade
      this.#start = upgrade.drainFrom! // the checkpoint starts where the old slot is drained from
    }
    this.#snapshot = this.#snapshotOf(spec)
    await this.#snapshot.prepare(snapshot, backfill !== 'pending' || !resumed)
    await recordStream(control, sync, { ...server, slot: group.slot, position: cursor, fresh: !resumed })
    group.hold(sync, cursor)
    this.#recorded = { position: cursor, at: Date.now(), writing: false }
    const shape = await settleShape(control, sync, spec.shape, !resumed)
    this.#batches = this.#read({ ...spec, shape })
  }

  get batches(): Observable<Batch<SourceChange>> {
    return this.#batches
  }

  /** The server, database and slot this source streams from (known once prepared): exactly-once progress is tied to it. */
  get identity(): SourceIdentity | null {
    return this.#identity
  }

  get startPosition(): Lsn {
    return this.#start
  }

  /** The snapshot runs beside the stream (chunked), never before it. */
  get snapshotFirst(): boolean {
    return false
  }

  /** Exactly-once: the last snapshot row committed to Kafka (read before streaming starts); a pending snapshot resumes after it. */
  resumeSnapshotAt(mark: SnapshotMark | null): void {
    this.#snapshot?.resumeAt(mark)
  }

  confirm(position: Lsn): void {
    this.#stream?.confirm(position)
    if (this.#options.group === undefined) this.#recordConfirmed(position, false)
    this.#snapshot?.confirmed(position)
  }

  pause(): void {
    this.#paused = true
    this.#stream?.pause()
  }

  resume(): void {
    this.#paused = false
    this.#stream?.resume()
    const waiters = this.#capacityWaiters
    this.#capacityWaiters = []
    for (const wake of waiters) wake()
    this.#snapshot?.pump()
  }

  /** The sink acknowledged a request: the snapshot's next slices may go. */
  delivered(): void {
    // Once the sink sent its next request: the slices are composed while that one is in flight, not before it.
    setImmediate(() => this.#snapshot?.pump())
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // Each step bounded: over a silently dead link a query or a connection's end never answers, and the
    // attempt's teardown must not hang on it (the sync would never reconnect).
    if (this.#options.group === undefined) await bounded(this.#recordConfirmed(this.#stream?.confirmed ?? 0n, true))
    this.resume() // a snapshot waiting for room gives up (its subscription is gone by now)
    await bounded(this.#snapshot?.stop())
    for (const release of this.#releases.reverse()) await bounded(release())
  }

  /** Records the confirmed position in _rowcast.sync_state, at most every few seconds (or now, when closing). */
  #recordConfirmed(position: Lsn, now: boolean): Promise<void> {
    const recorded = this.#recorded
    if (position <= recorded.position || recorded.writing || (!now && Date.now() - recorded.at < RECORD_CONFIRMED_MS)) return Promise.resolve()
    recorded.writing = true
    return recordConfirmed(this.#control, this.#options.sync, position).then(
      () => void Object.assign(recorded, { position, at: Date.now(), writing: false }),
      (error: unknown) => {
        recorded.writing = false
        this.#options.logger.debug({ error: errorMessage(error) }, 'could not record the confirmed position')
      },
    )
  }

  /** The chunked snapshot of this sync, beside its stream. */
  #snapshotOf(spec: StreamSpec): SnapshotCoordinator {
    const { url, sync, chunkRows, chunkTimeMs, maxBatchRows, logger, events, maxSnapshotRowsPerSecond, snapshotSlices } = this.#options
    return new SnapshotCoordinator(this.#control, {
      url, sync, chunkRows, maxBatchRows, logger,
      ...(snapshotSlices === undefined ? {} : {
        sliceRows: Math.min(snapshotSlices.rows, maxBatchRows),
        room: () => !this.#paused && (events.inFlightMessages?.() ?? 0) < snapshotSlices.maxInFlightMessages,
      }),
      ...(maxSnapshotRowsPerSecond === undefined ? {} : { maxRowsPerSecond: maxSnapshotRowsPerSecond }),
      ...(chunkTimeMs === undefined ? {} : { chunkTimeMs }),
      parallelism: this.#options.snapshotParallelism ?? 1,
      table: spec.table,
      columns: spec.snapshotColumns,
      keyColumns: spec.keyColumns,
      // Without a key a chunk row and a stream change are the same row when every model column is equal.
      identity: spec.keyColumns.length > 0 ? spec.keyColumns : spec.shape.model.map((c) => c.name),
      filter: spec.filter,
      capacity: () => (this.#paused ? new Promise<void>((r) => this.#capacityWaiters.push(r)) : Promise.resolve()),
      onProgress: (done, total, chunkRows) => events.onSnapshotProgress?.(done, total, chunkRows),
      onError: (error) => this.#failure.error(error),
    })
  }

  /** The stream, with the chunked snapshot (when one is pending) merged in at its watermarks, heartbeats and the resync watch while subscribed. */
  #read(spec: StreamSpec): Observable<Batch<SourceChange>> {
    const { url, maxBatchRows, statusIntervalMs, logger, events } = this.#options
    const snapshot = this.#snapshot
    const streamOptions = {
      connectionString: url,
      slot: spec.slot,
      publication: spec.publication.name,
      ...(spec.messagePrefix === undefined ? {} : { messagePrefix: spec.messagePrefix }),
      ...(this.#options.origin === undefined ? {} : { origin: this.#options.origin }),
      shape: spec.shape,
      maxBatchRows,
      statusIntervalMs,
      ...(this.#options.takeoverTimeoutMs ? { receiveTimeoutMs: this.#options.takeoverTimeoutMs } : {}),
      logger,
      isIdle: events.isIdle,
      ...(snapshot === null ? {} : { onWatermark: (content: string, txId: number, commitLsn: Lsn, commitTime: number) => snapshot.onWatermark(content, txId, commitLsn, commitTime) }),
      ...(events.onTruncate === undefined ? {} : { onTruncate: events.onTruncate }),
      ...(events.onServerPosition === undefined ? {} : { onServerPosition: events.onServerPosition }),
      ...(events.onBegin === undefined ? {} : { onBegin: events.onBegin }),
    }
    const group = this.#options.group
    const stream = group === undefined ? new ReplicationStream(streamOptions) : this.#memberStream(group, spec, streamOptions, events.onParked)
    this.#stream = stream
    const reselect = spec.reselect == null ? null : reselectUnchangedToast(this.#control, spec.reselect, logger)
    const streamed = (batches: Observable<Batch<SourceChange>>) =>
      reselect === null ? batches : batches.pipe(concatMap((batch) => { const out = reselect(batch); return out instanceof Promise ? from(out) : of(out) }))
    return defer(() => {
      const stopTimers = this.#startTimers()
      snapshot?.start()
      const batches = streamed(stream.batches(this.#start))
      return merge(snapshot === null ? batches : snapshot.interleave(batches, this.#start), this.#failure).pipe(finalize(stopTimers))
    })
  }

  /** A member of the group, or during its upgrade the old slot drained up to the hand-off and then the member. */
  #memberStream(group: StreamGroup, spec: StreamSpec, options: ReplicationStreamOptions, onParked: MemberSpec['onParked']): GroupMember | UpgradeStream {
    const member = group.member({ ...options, publication: group.slot, sync: this.#options.sync, table: spec.table, ...(onParked === undefined ? {} : { onParked }) })
    const upgrade = this.#upgrade
    if (upgrade === null) return member
    const drain = new ReplicationStream({ ...options, slot: upgrade.oldSlot, publication: upgrade.oldPublication, stopAt: upgrade.handoff })
    const { logger, events } = this.#options
    return new UpgradeStream(drain, member, upgrade, () => events.isIdle?.() ?? false, () => {
      this.#upgrade = null
      finishUpgrade(this.#control, upgrade, logger).catch((error: unknown) =>
        logger.warn({ sync: upgrade.sync, oldSlot: upgrade.oldSlot, error: errorMessage(error) }, `could not drop replication slot "${upgrade.oldSlot}" after the move into the stream group (tried again at the next start)`))
    })
  }

  #startTimers(): () => void {
    const { heartbeatIntervalMs, logger, sync } = this.#options
    // A stream group writes the heartbeats of its syncs.
    const heartbeat = this.#options.group !== undefined ? undefined : setInterval(() => {
      emitHeartbeat(this.#control).catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'heartbeat failed'))
    }, heartbeatIntervalMs)
    let resyncing = false
    const resyncPoll = setInterval(() => {
      readBackfillState(this.#control, sync)
        .then((state) => {
          if (state !== 'resync' || resyncing || this.#snapshot === null) return
          // The stream goes on; a snapshot from the first row runs beside it (one already running starts over).
          resyncing = true
          logger.info('resync requested: re-sending the whole model beside the stream')
          return this.#snapshot.restart().finally(() => (resyncing = false))
        })
        .catch(() => undefined)
    }, RESYNC_POLL_MS)
    return () => {
      clearInterval(heartbeat)
      clearInterval(resyncPoll)
    }
  }
}

async function connectClient(url: string): Promise<pg.Client> {
  const client = new pg.Client(sessionConfig(url))
  try {
    await client.connect()
  } catch (error) {
    throw new RowcastError('PG_UNREACHABLE', `cannot connect to PostgreSQL: ${errorMessage(error)}`, { cause: error })
  }
  return client
}

/**
 * Where a sync that joins a stream group without a cursor in it starts: a sync that never streamed starts at the
 * server's current position. A sync that streamed from a slot of its own moves into the group through
 * slot-upgrade.ts before this; one whose recorded stream is another server's, while a slot of that name exists
 * here, stops (its positions belong to another history).
 */
async function migrateOrStart(control: pg.Client, sync: string, recorded: RecordedStream | null, group: StreamGroup): Promise<Lsn> {
  if (recorded !== null && recorded.slot !== group.slot && (await readSlot(control, recorded.slot)) !== null) {
    throw new RowcastError('CONFIG_INVALID', `sync "${sync}" streams from its own replication slot "${recorded.slot}" (confirmed up to ${formatLsn(recorded.confirmed)}); its recorded stream is another server's (system ${recorded.systemId}), so it cannot move into the stream group "${group.slot}" from there: keep stream: dedicated for it, or re-send its model into the group with rowcast resync --sync ${sync} after dropping that slot`)
  }
  const { rows } = await control.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
  return parseLsn(rows[0].lsn)
}
