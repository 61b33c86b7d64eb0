import pg from 'pg'
import { concat, defer, EMPTY, finalize, merge, Subject, takeUntil, type Observable } from 'rxjs'
import type { Batch, ColumnInfo, SourceChange } from '../../core/changes.ts'
import type { ChangeSource, ChangeSourceEvents, SourceIdentity } from '../../core/contracts.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn, type Lsn } from '../../core/lsn.ts'
import { describeTable, type TableInfo } from './catalog.ts'
import { ensurePublication, type PublicationSpec } from './publication.ts'
import { createSlot, createSlotWithSnapshot, dropSlot, readSlot, serverMajor } from './slots.ts'
import { resolveHost } from './hosts.ts'
import { readSwitchPoint } from './timeline.ts'
import { whileNudgingPrimary } from './standby.ts'
import { snapshot } from './snapshot.ts'
import { decideStart } from './start-decision.ts'
import { emitHeartbeat, ReplicationStream } from './stream.ts'
import {
  ensureStateTable, finishBackfill, readBackfillState, readRecordedStream, readServerIdentity, recordConfirmed, recordStream, tryLockSync, writeBackfillState,
} from './sync-state.ts'
import { sessionConfig } from './session.ts'

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
  /** pgoutput's origin filter: 'none' skips changes applied from another server (PostgreSQL 16+). */
  origin?: 'any' | 'none'
  /** A transaction (or snapshot read) larger than this flows in batches of this size. */
  maxBatchRows: number
  logger: Logger
  events: PostgresSourceEvents
}

export interface PostgresSourceEvents extends ChangeSourceEvents {
  onTruncate?(tables: string[]): void
  /** The server's WAL end from keep-alives, for replication lag. */
  onServerPosition?(lsn: Lsn): void
  onSnapshotProgress?(done: number, total: number): void
}

/** What the source streams, decided from the model: slot, publication, and the columns to decode. */
export interface StreamSpec {
  slot: string
  publication: PublicationSpec
  /** The model's table (schema.table). */
  table: string
  /** The columns the stream decodes (the model's); other columns are skipped. */
  columns: readonly ColumnInfo[]
  /** The columns the snapshot reads (classify projects them to the model). */
  snapshotColumns: readonly ColumnInfo[]
  filter: string | null
}

export { decideStart, type StartDecision } from './start-decision.ts'

const LOCK_POLL_MS = 2_000
const RESYNC_POLL_MS = 5_000
/** The confirmed position recorded in _rowcast.sync_state at most this often (a vanished slot's gap starts there). */
const RECORD_CONFIRMED_MS = 5_000

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
  /** Where the slot lives and is streamed from: the control connection, or the standby when decoding on one. */
  #slots: pg.Client
  readonly #failure = new Subject<never>()
  readonly #end = new Subject<void>()
  readonly #releases: (() => Promise<void> | void)[] = []
  #stream: ReplicationStream | null = null
  #batches: Observable<Batch<SourceChange>> = EMPTY
  #start: Lsn = 0n
  #snapshotPending = false
  #paused = false
  #capacityWaiters: (() => void)[] = []
  #closed = false
  #closeExport: () => Promise<void> = async () => {}
  #recorded = { position: 0n, at: 0, writing: false }
  #identity: SourceIdentity | null = null

  private constructor(options: PostgresSourceOptions, control: pg.Client) {
    this.#options = options
    this.#control = control
    this.#slots = control
    control.on('error', (error) => this.#failure.error(new RowcastError('PG_CONNECTION_LOST', `PostgreSQL connection lost: ${error.message}`, { cause: error })))
    this.#releases.push(() => control.end().catch(() => undefined))
  }

  /** Connects and takes the sync's lock, waiting while another daemon holds it; null when `signal` aborts meanwhile. */
  static async connect(given: PostgresSourceOptions, signal: AbortSignal): Promise<PostgresSource | null> {
    // A multi-host URL is resolved at each attempt: after a failover the next attempt finds the new primary.
    const options = { ...given, url: await resolveHost(given.url), ...(given.primaryUrl === undefined ? {} : { primaryUrl: await resolveHost(given.primaryUrl) }) }
    const control = await connectClient(options.primaryUrl ?? options.url)
    const source = new PostgresSource(options, control)
    try {
      if (options.primaryUrl !== undefined) source.#slots = await source.#connectStandby(options.url)
      let waiting = false
      while (!(await tryLockSync(control, options.sync))) {
        if (!waiting) options.logger.info('another rowcast streams this sync; waiting to take over')
        waiting = true
        if (signal.aborted) break
        await new Promise((r) => setTimeout(r, LOCK_POLL_MS))
      }
      if (!signal.aborted) return source
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
    await ensurePublication(control, spec.publication)
    const { database, ...server } = await readServerIdentity(control)
    this.#identity = { systemId: server.systemId, database, slot: spec.slot }
    const { stream: recorded, gapAccepted } = await readRecordedStream(control, sync)
    const slots = this.#slots
    const slot = await readSlot(slots, spec.slot)
    const switchPoint = recorded !== null && recorded.systemId === server.systemId && recorded.timeline !== server.timeline
      ? await readSwitchPoint(this.#options.url, recorded.timeline, server.timeline)
      : undefined
    const decision = decideStart(slot, await readBackfillState(control, sync), initialSync, { sync, slot: spec.slot, recorded, server, gapAccepted, switchPoint })
    let snapshotName: string | null = null
    // A slot on a standby cannot be a failover slot (PostgreSQL refuses); its creation waits for the primary.
    const onStandby = this.#options.primaryUrl !== undefined
    const slotOptions = { failover: !onStandby && this.#options.failoverSlots === true && (await serverMajor(slots)) >= 17 }
    const creating = <T>(work: Promise<T>): Promise<T> => (onStandby ? whileNudgingPrimary(control, work) : work)
    if (decision.kind === 'lost') throw new RowcastError('PG_SLOT_LOST', decision.reason)
    if (decision.kind === 'resume') this.#start = decision.from
    else if (decision.kind === 'create' || decision.kind === 'replace') {
      if (decision.kind === 'replace') {
        if (slot !== null) await dropSlot(slots, spec.slot)
        logger.warn({ slot: spec.slot, from: recorded === null ? null : formatLsn(recorded.confirmed) }, 'gap accepted (rowcast resync --accept-gap): streaming from a new slot; changes since the recorded position are not sent')
      }
      this.#start = await creating(createSlot(slots, spec.slot, slotOptions))
      logger.info({ slot: spec.slot, lsn: formatLsn(this.#start), failover: slotOptions.failover }, 'created replication slot')
    } else {
      // A backfill that did not finish (or a resync) starts over from a fresh slot and snapshot.
      if (decision.dropSlot) await dropSlot(slots, spec.slot)
      const created = await creating(createSlotWithSnapshot(this.#options.url, spec.slot, slotOptions))
      // The exported snapshot lives while this connection stays open: closed once the snapshot read imported it.
      this.#closeExport = () => created.connection.end().catch(() => undefined)
      this.#releases.push(this.#closeExport)
      await writeBackfillState(control, sync, 'pending')
      logger.info({ slot: spec.slot, lsn: formatLsn(created.consistentPoint), snapshot: created.snapshot }, 'created replication slot with snapshot for backfill')
      this.#start = created.consistentPoint
      snapshotName = created.snapshot
      this.#snapshotPending = true
    }
    // From here on the slot is this sync's stream: should it vanish, the next start stops loudly.
    await recordStream(control, sync, { ...server, slot: spec.slot, position: this.#start, fresh: decision.kind !== 'resume' })
    this.#recorded = { position: this.#start, at: Date.now(), writing: false }
    this.#batches = this.#read(spec, snapshotName)
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

  get snapshotFirst(): boolean {
    return this.#snapshotPending
  }

  confirm(position: Lsn): void {
    this.#stream?.confirm(position)
    this.#recordConfirmed(position, false)
    // Snapshot batches are opened before any streamed one: a position past the start means all were delivered.
    if (this.#snapshotPending && position > this.#start) {
      this.#snapshotPending = false
      finishBackfill(this.#control, this.#options.sync).then(
        () => this.#options.logger.info('backfill delivered'),
        (error: unknown) => this.#options.logger.warn({ error: errorMessage(error) }, 'could not record the end of the backfill; it will run again on restart'),
      )
    }
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
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#recordConfirmed(this.#stream?.confirmed ?? 0n, true)
    this.resume() // a snapshot waiting for room gives up (its subscription is gone by now)
    for (const release of this.#releases.reverse()) await release()
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

  /** Snapshot rows (when asked) then the stream, with heartbeats and the resync watch while subscribed. */
  #read(spec: StreamSpec, snapshotName: string | null): Observable<Batch<SourceChange>> {
    const { url, maxBatchRows, statusIntervalMs, logger, events } = this.#options
    const stream = new ReplicationStream({
      connectionString: url,
      slot: spec.slot,
      publication: spec.publication.name,
      ...(this.#options.origin === undefined ? {} : { origin: this.#options.origin }),
      columns: spec.columns,
      maxBatchRows,
      statusIntervalMs,
      logger,
      isIdle: events.isIdle,
      ...(events.onTruncate === undefined ? {} : { onTruncate: events.onTruncate }),
      ...(events.onServerPosition === undefined ? {} : { onServerPosition: events.onServerPosition }),
      ...(events.onBegin === undefined ? {} : { onBegin: events.onBegin }),
    })
    this.#stream = stream
    const snapshot$ =
      snapshotName === null
        ? EMPTY
        : snapshot({
            connectionString: url,
            table: spec.table,
            columns: spec.snapshotColumns,
            filter: spec.filter,
            snapshot: snapshotName,
            batchRows: maxBatchRows,
            capacity: () => (this.#paused ? new Promise<void>((r) => this.#capacityWaiters.push(r)) : Promise.resolve()),
            onProgress: (done, total) => events.onSnapshotProgress?.(done, total),
            onSnapshotImported: () => void this.#closeExport(),
          })
    return defer(() => {
      const stopTimers = this.#startTimers()
      return merge(concat(snapshot$, stream.batches(this.#start)), this.#failure).pipe(
        takeUntil(this.#end),
        finalize(stopTimers),
      )
    })
  }

  #startTimers(): () => void {
    const { heartbeatIntervalMs, logger, sync } = this.#options
    const heartbeat = setInterval(() => {
      emitHeartbeat(this.#control).catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'heartbeat failed'))
    }, heartbeatIntervalMs)
    let resyncing = false
    const resyncPoll = setInterval(() => {
      readBackfillState(this.#control, sync)
        .then((state) => {
          if (state !== 'resync' || resyncing) return
          // End the batches: the attempt delivers what is in flight and ends; the next one finds 'resync' and starts over.
          resyncing = true
          logger.info('resync requested: re-sending the whole model')
          this.#end.next()
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
