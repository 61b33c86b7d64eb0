import type pg from 'pg'
import { LogicalReplicationService } from 'pg-logical-replication'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn, type Lsn } from '../../core/lsn.ts'
import { DecodedRows } from './decoded-rows.ts'
import { GroupCursors } from './group-cursors.ts'
import { lockGroup } from './group-lock.ts'
import { dropFromGroupPublication } from './publication.ts'
import { GroupMember, type MemberHost, type MemberSpec } from './group-member.ts'
import { sessionConfig } from './session.ts'
import { standbyStatus } from './standby-status.ts'

export interface StreamGroupOptions {
  url: string
  /** The group's one replication slot. */
  slot: string
  /** Every sync of the group when it starts (configured): those with a recorded cursor hold the slot there, running or not. A reload calls join and leave. */
  syncs: readonly string[]
  heartbeatIntervalMs: number
  statusIntervalMs: number
  takeoverTimeoutMs?: number
  failoverSlots?: boolean
  /** A member paused this long (its sink cannot deliver) is parked: the others go on; it catches up when it resumes. */
  parkAfterMs: number
  /** pgoutput's origin filter (source.postgres.origin, PostgreSQL 16+): 'none' skips changes applied from another server. */
  origin?: 'any' | 'none'
  /** Before the first start, how long the stream waits for the group's syncs to join (one start instead of one per sync). */
  joinGraceMs?: number
  logger: Logger
}

const TICK_MS = 500
const B = 0x42, C = 0x43, R = 0x52, I = 0x49, U = 0x55, D = 0x44, T = 0x54, M = 0x4d

/**
 * One logical replication slot and one walsender for several syncs of a database: PostgreSQL decodes the WAL
 * once, and each decoded message goes to the members whose table it is (a member decodes only its table's
 * rows, and members of one table that read it alike share one decoding: decoded-rows.ts). Holds the group's advisory lock (one daemon streams a group; another waits to take over), the slot,
 * the heartbeats, and the members' cursors (group-cursors.ts): the slot is confirmed at the lowest of them.
 * A member that joins behind what the stream has read, or whose publication the stream does not name, makes
 * the stream restart (between transactions) at the slot's position; members already past skip what they had.
 * A reload adds syncs (join: their cursors will hold the slot) and takes them out (leave: theirs no longer do).
 */
export class StreamGroup implements MemberHost {
  readonly options: StreamGroupOptions
  readonly #members = new Map<string, GroupMember>()
  readonly #byTable = new Map<string, GroupMember[]>()
  readonly #relations = new Map<number, { table: string; buffer: Buffer }>()
  /** The group's syncs now (options.syncs, then as reloads add and remove them). */
  readonly #syncs: Set<string>
  /** Each sync's table (schema.table, as its members attached with it). */
  readonly #tables = new Map<string, string>()
  /** The row message being routed, decoded once per way its members read it. */
  readonly #rows = new DecodedRows()
  #control: pg.Client | null = null
  #locking: Promise<boolean> | null = null
  #releases: (() => void)[] = []
  #cursors: GroupCursors | null = null
  #service: LogicalReplicationService | null = null
  #generation = 0
  #tx: { seq: number; commitLsn: Lsn; lsn: string; begin: Buffer } | null = null
  #txSeq = 0
  #touched: GroupMember[] = []
  /** The commit end of the last transaction read (or where the stream started). */
  #readTo: Lsn = 0n
  #restartWanted = false
  #opening = false
  #lastKeepalive: Lsn = -1n
  #sentSinceKeepalive = false
  /** When the replication connection last delivered anything (a silently dead link fails the stream). */
  #received = 0
  #firstJoin = 0
  #timer: NodeJS.Timeout | null = null
  #closed = false

  constructor(options: StreamGroupOptions) {
    this.options = options
    this.#syncs = new Set(options.syncs)
  }

  get slot(): string {
    return this.options.slot
  }

  /** The slot's confirmed position: when the group took its lock, or sent since (a member's cursor below it has a gap). */
  get slotPosition(): Lsn {
    const cursors = this.#cursors
    if (cursors === null) return 0n
    return cursors.sent > cursors.slotStart ? cursors.sent : cursors.slotStart
  }

  /** The group's syncs now. */
  get syncs(): readonly string[] {
    return [...this.#syncs]
  }

  /** A sync added to the running group (a reload): its cursor will hold the slot; its member attaches as any other. */
  join(sync: string): void {
    this.#syncs.add(sync)
    this.#cursors?.admit(sync)
  }

  /**
   * A sync taken out of the group (a reload removed it, or gave it a slot of its own), after its attempt stopped:
   * its cursor no longer holds the slot, which moves on to the others' lowest. Its state row is kept. Its table
   * leaves the group's publication when every sync left is known to read another one.
   */
  async leave(sync: string): Promise<void> {
    this.#syncs.delete(sync)
    this.#members.get(sync)?.fail(new RowcastError('CONFIG_INVALID', `sync "${sync}" left its stream group`))
    this.#cursors?.forget(sync)
    this.options.logger.info({ group: this.slot, sync }, `sync "${sync}" left the stream group: its position no longer holds the slot`)
    const table = this.#tables.get(sync)
    this.#tables.delete(sync)
    const others = [...this.#syncs].map((s) => this.#tables.get(s))
    if (table === undefined || this.#control === null || !others.every((t) => t !== undefined && t !== table)) return
    // Only a cost while it stays (the walsender sends the table's changes, the group drops them): never fatal here.
    await dropFromGroupPublication(this.#control, this.slot, table).catch((error: unknown) => this.options.logger.warn({ group: this.slot, sync, table, error: errorMessage(error) }, 'could not take the table of a sync that left out of the stream group\'s publication'))
  }

  /** Takes the group's lock (once for all members; waits while another daemon holds it); false when `signal` aborts or the group closes. */
  async acquire(signal: AbortSignal): Promise<boolean> {
    for (;;) {
      if (this.#closed) return false
      if (this.#control !== null) return true
      this.#locking ??= this.#lock(signal).finally(() => (this.#locking = null))
      const locked = await this.#locking
      if (locked || signal.aborted) return locked
    }
  }

  async #lock(signal: AbortSignal): Promise<boolean> {
    const { slot, logger } = this.options
    const session = await lockGroup(this.options, signal, (control, why) => {
      if (this.#control === control) this.#reset(new RowcastError('PG_CONNECTION_LOST', `the connection holding stream group "${slot}"'s lock ${why}: the lock is lost`))
    })
    if (session === null) return false
    const { control, slotStart, releases } = session
    const letGo = async () => {
      for (const release of releases) release()
      await control.end().catch(() => undefined)
    }
    // Closed while the lock was being taken (a daemon stopped as a shared sync started): kept, the lock and its
    // connection would outlive the group, and no other daemon could take it over.
    if (this.#closed) return letGo().then(() => false)
    let cursors: GroupCursors
    try {
      cursors = await GroupCursors.load(control, { slot, syncs: this.syncs, slotStart, logger, send: (lsn) => this.#sendStatus(lsn) })
    } catch (error) {
      await letGo()
      throw error
    }
    if (this.#closed) return letGo().then(() => false)
    this.#cursors = cursors
    this.#releases = releases
    this.#control = control
    this.#timer ??= setInterval(() => this.#tick(), TICK_MS)
    this.#timer.unref()
    return true
  }

  /** A member of the group for this sync (its cursor comes with `attach`, through its batches' start). */
  member(spec: MemberSpec): GroupMember {
    return new GroupMember(spec, this)
  }

  /** A member's recorded cursor (from _rowcast.sync_state), known before it attaches: it holds the slot. */
  hold(sync: string, cursor: Lsn): void {
    this.#cursors?.hold(sync, cursor)
  }

  attach(member: GroupMember): void {
    const { sync, table } = member.spec
    this.#members.get(sync)?.fail(new RowcastError('PG_REPLICATION_LOST', `sync "${sync}" joined its stream group again`))
    this.#members.set(sync, member)
    this.#tables.set(sync, table)
    this.#byTable.set(table, [...(this.#byTable.get(table) ?? []), member])
    this.#cursors?.hold(sync, member.cursor)
    if (this.#firstJoin === 0) this.#firstJoin = Date.now()
    if (this.#service !== null) {
      const tx = this.#tx
      if (tx !== null) {
        member.txSeq = tx.seq // joined inside a transaction: not this one (the restart reads it again)
        member.skipping = true
      }
      if (member.cursor < this.#readTo || (tx !== null && tx.commitLsn >= member.skipBelow)) this.#wantRestart(`sync "${sync}" joined at ${formatLsn(member.cursor)}`)
    }
    this.#tick()
  }

  detach(member: GroupMember): void {
    const { sync, table } = member.spec
    if (this.#members.get(sync) !== member) return
    this.#members.delete(sync)
    const rest = (this.#byTable.get(table) ?? []).filter((m) => m !== member)
    if (rest.length === 0) this.#byTable.delete(table)
    else this.#byTable.set(table, rest)
    this.#cursors?.changed(sync, member.cursor)
    if (member.parked || member.catchUpTo !== null) member.spec.onParked?.(false, member.cursor) // its attempt ended: the sync's state says what follows
    this.#backpressure()
    if (this.#members.size === 0) void this.#stopOnceWritten()
  }

  /**
   * The last member left: the stream stops once the cursors are written, so the slot is confirmed at them first
   * (each write sends the lowest on the stream's connection); stopped at once, a drained sync's last position
   * never reached the server's slot. Unless a member attached meanwhile.
   */
  async #stopOnceWritten(): Promise<void> {
    await this.#cursors?.flush()
    if (this.#members.size === 0) this.#stopService()
  }

  confirmed(member: GroupMember): void {
    if (this.#members.get(member.spec.sync) !== member) return
    this.#cursors?.changed(member.spec.sync, member.cursor)
    this.#caughtUp(member)
  }

  /** A member that resumed after being parked has caught up once its cursor reaches where the stream had read. */
  #caughtUp(member: GroupMember): void {
    if (member.catchUpTo === null || member.cursor < member.catchUpTo) return
    member.catchUpTo = null
    this.options.logger.info({ group: this.slot, sync: member.spec.sync, position: formatLsn(member.cursor) }, `sync "${member.spec.sync}" caught up with its stream group`)
    member.spec.onParked?.(false, member.cursor)
  }

  paused(member: GroupMember, paused: boolean): void {
    if (!paused && member.parked) {
      member.parked = false
      member.catchUpTo = this.#readTo
      const tx = this.#tx
      if (tx !== null && member.txSeq !== tx.seq) {
        member.txSeq = tx.seq // not from the middle of this transaction: the restart reads it again
        member.skipping = true
      }
      this.options.logger.info({ group: this.slot, sync: member.spec.sync, from: formatLsn(member.skipBelow) }, `sync "${member.spec.sync}" resumes: catching up from its position`)
      if (member.skipBelow < this.#readTo || this.#tx !== null) this.#wantRestart(`sync "${member.spec.sync}" catches up`)
      this.#caughtUp(member)
    }
    this.#backpressure()
  }

  /** Stops the stream, lets the lock and the slot go. */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer !== null) clearInterval(this.#timer)
    await this.#cursors?.flush() // written, and the slot confirmed at them, while the stream still runs
    this.#stopService()
    const control = this.#control
    this.#control = null
    for (const release of this.#releases) release()
    await control?.end().catch(() => undefined)
  }

  /** The socket is paused while any member that is not parked is paused: one slow sync slows its group. */
  #backpressure(): void {
    const hold = [...this.#members.values()].some((m) => m.pausedSince !== null && !m.parked)
    const socket = (this.#service as unknown as { _connection?: { stream?: { pause(): void; resume(): void } } } | null)?._connection?.stream
    if (hold) socket?.pause()
    else socket?.resume()
  }

  #tick(): void {
    if (this.#closed || this.#control === null) return
    const now = Date.now()
    for (const member of this.#members.values()) {
      // Parked inside a transaction it takes part in, it still gets the rest of it (one transaction more in its sink's queue).
      if (member.pausedSince === null || member.parked || now - member.pausedSince < this.options.parkAfterMs) continue
      member.parked = true
      member.catchUpTo = null
      this.options.logger.warn({ group: this.slot, sync: member.spec.sync, position: formatLsn(member.cursor) }, `sync "${member.spec.sync}" is parked (it cannot deliver): the other syncs of its stream group go on; PostgreSQL keeps WAL from ${formatLsn(member.cursor)} for it`)
      member.spec.onParked?.(true, member.cursor)
      this.#backpressure()
    }
    const everyone = this.#members.size >= this.#syncs.size || now - this.#firstJoin >= (this.options.joinGraceMs ?? 2_000)
    if (this.#service === null && this.#members.size > 0 && everyone) this.#start()
    const timeout = this.options.takeoverTimeoutMs ?? 0
    const paused = [...this.#members.values()].some((m) => m.pausedSince !== null && !m.parked)
    if (this.#service !== null && timeout > 0 && !paused && now - this.#received > timeout * 1.5) {
      this.#failAll(new RowcastError('PG_REPLICATION_LOST', `nothing received from PostgreSQL for ${now - this.#received} ms`))
    }
    this.#cursors?.tick(this.options.statusIntervalMs)
  }

  #wantRestart(why: string): void {
    if (this.#restartWanted) return
    this.#restartWanted = true
    this.options.logger.info({ group: this.slot }, `restarting the stream group's stream: ${why}`)
    if (this.#tx === null) this.#restart()
  }

  #restart(): void {
    this.#restartWanted = false
    this.#stopService()
    this.#start()
  }

  #stopService(): void {
    this.#generation++
    this.#tx = null
    this.#touched = []
    const service = this.#service
    this.#service = null
    void service?.destroy().catch(() => undefined)
  }

  #start(): void {
    if (this.#opening || this.#service !== null || this.#closed || this.#cursors === null || this.#control === null) return
    this.#opening = true
    const generation = ++this.#generation
    Promise.resolve().then(
      () => {
        this.#opening = false
        if (generation === this.#generation) this.#run(generation, 0)
        else if (this.#members.size > 0) this.#start() // restarted meanwhile: start with what is wanted now
      },
      (error: unknown) => {
        this.#opening = false
        if (generation === this.#generation) this.#failAll(new RowcastError('PG_REPLICATION_FAILED', `could not start the stream group's replication: ${errorMessage(error)}`, { cause: error }))
      },
    )
  }

  /** The stream failed: every member's attempt ends (each rejoins from its cursor, and the stream starts again). */
  #failAll(error: RowcastError): void {
    this.#stopService()
    for (const member of [...this.#members.values()]) member.fail(error)
  }

  #run(generation: number, tries: number): void {
    const { url, slot, logger, takeoverTimeoutMs } = this.options
    const from = this.#cursors!.lowest
    const receiveTimeout = (takeoverTimeoutMs ?? 0) > 0 ? takeoverTimeoutMs! : undefined
    const service = new LogicalReplicationService(
      sessionConfig(url, undefined, receiveTimeout === undefined ? {} : { wal_sender_timeout: `${receiveTimeout}` }),
      { acknowledge: { auto: false, timeoutSeconds: 0 } },
    )
    this.#service = service
    this.#readTo = from
    this.#received = Date.now()
    let started = false
    const current = () => generation === this.#generation && this.#service === service
    const failed = (error: unknown) => {
      if (!current()) return
      // The previous walsender of this slot may hold it a moment after its connection closed.
      if (!started && /is active for PID/.test(errorMessage(error)) && tries < 50) {
        this.#service = null
        void service.destroy().catch(() => undefined)
        setTimeout(() => {
          if (generation === this.#generation && this.#service === null) this.#run(generation, tries + 1)
        }, 200).unref()
        return
      }
      this.#failAll(error instanceof RowcastError ? error : new RowcastError('PG_REPLICATION_LOST', `the stream group's replication from slot "${slot}" failed: ${errorMessage(error)}`, { cause: error }))
    }
    service.on('data', (lsn: string, buffer: Buffer) => {
      if (!current()) return
      this.#received = Date.now()
      this.#sentSinceKeepalive = true
      this.#route(lsn, buffer)
    })
    service.on('heartbeat', (lsn: string, _time: number, shouldRespond: boolean) => {
      if (!current()) return
      this.#received = Date.now()
      this.#keepalive(lsn, shouldRespond)
    })
    service.on('error', failed)
    service.on('start', () => {
      started = true
      this.#backpressure()
    })
    if (tries === 0) logger.info({ group: slot, from: formatLsn(from) }, 'starting the stream group\'s replication')
    const plugin = {
      name: 'pgoutput',
      start: (client: pg.Client, slotName: string, lastLsn: string) =>
        client.query(`START_REPLICATION SLOT "${slotName}" LOGICAL ${lastLsn} (proto_version '1', publication_names '"${slot}"', messages 'true'${this.options.origin === 'none' ? ", origin 'none'" : ''})`),
      parse: (buffer: Buffer) => buffer,
    }
    service.subscribe(plugin as never, slot, formatLsn(from)).then(
      () => failed(new RowcastError('PG_REPLICATION_LOST', 'the stream group\'s replication stream ended unexpectedly')),
      failed,
    )
  }

  /** One decoded message of the slot, to the members it concerns (synchronous: the buffer is reused after). */
  #route(lsn: string, buffer: Buffer): void {
    switch (buffer[0]) {
      case B:
        this.#tx = { seq: ++this.#txSeq, commitLsn: buffer.readBigUInt64BE(1), lsn, begin: Buffer.from(buffer) }
        this.#touched = []
        return
      case C: {
        for (const member of this.#touched) member.feed(lsn, buffer)
        this.#touched = []
        this.#tx = null
        const end = buffer.readBigUInt64BE(10)
        if (end > this.#readTo) this.#readTo = end
        if (this.#restartWanted) this.#restart()
        return
      }
      case R: {
        const id = buffer.readUInt32BE(1)
        const schemaEnd = buffer.indexOf(0, 5)
        const nameEnd = buffer.indexOf(0, schemaEnd + 1)
        this.#relations.set(id, { table: `${buffer.toString('utf8', 5, schemaEnd)}.${buffer.toString('utf8', schemaEnd + 1, nameEnd)}`, buffer: Buffer.from(buffer) })
        return
      }
      case I:
      case U:
      case D: {
        const id = buffer.readUInt32BE(1)
        const relation = this.#relations.get(id)
        if (relation === undefined) return
        const members = this.#byTable.get(relation.table)
        if (members === undefined) return
        this.#rows.next(members.length)
        for (const member of members) {
          if (!this.#enter(member)) continue
          this.#relationTo(member, id, relation.buffer)
          member.feed(lsn, buffer, this.#rows)
        }
        return
      }
      case T: {
        const count = buffer.readUInt32BE(1)
        const ids = Array.from({ length: count }, (_, i) => buffer.readUInt32BE(6 + 4 * i))
        for (const member of this.#members.values()) {
          const mine = ids.filter((id) => this.#relations.get(id)?.table === member.spec.table)
          if (mine.length === 0 || !this.#enter(member)) continue
          for (const id of ids) {
            const relation = this.#relations.get(id)
            if (relation !== undefined) this.#relationTo(member, id, relation.buffer)
          }
          member.feed(lsn, buffer)
        }
        return
      }
      case M:
        // Heartbeats and snapshot watermarks: every member sees them (a watermark of another sync's run is ignored).
        if (this.#tx === null) return
        for (const member of this.#members.values()) if (this.#enter(member)) member.feed(lsn, buffer)
        return
      default:
        return // origin, type
    }
  }

  /** Whether `member` takes part in the current transaction; its BEGIN is given to it on the first message it gets. */
  #enter(member: GroupMember): boolean {
    const tx = this.#tx
    if (tx === null) return false
    if (member.txSeq === tx.seq) return !member.skipping
    member.txSeq = tx.seq
    member.skipping = member.parked || tx.commitLsn < member.skipBelow
    if (member.skipping) return false
    this.#touched.push(member)
    member.feed(tx.lsn, tx.begin)
    return true
  }

  #relationTo(member: GroupMember, id: number, buffer: Buffer): void {
    if (member.relationsSeen.get(id) === buffer) return
    member.relationsSeen.set(id, buffer)
    member.feed('0/0', buffer)
  }

  #keepalive(lsn: string, shouldRespond: boolean): void {
    const [high, low] = lsn.split('/')
    const position = (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`)
    // A keep-alive's position may lie ahead of what is sent yet (a stream catching up after a restart): it is only
    // trusted when the walsender repeats it with nothing sent in between (idle there: a fast shutdown of PostgreSQL
    // waits for that position to be confirmed); otherwise members idle advance to the last commit read.
    const settled = position === this.#lastKeepalive && !this.#sentSinceKeepalive
    this.#lastKeepalive = position
    this.#sentSinceKeepalive = false
    const safe = settled ? position : this.#readTo
    for (const member of this.#members.values()) {
      member.spec.onServerPosition?.(position)
      // Nothing in flight and no transaction open: nothing before `safe` remains to deliver for it.
      if (this.#tx === null && !member.parked && !member.inTransaction && member.cursor !== 0n && safe > member.cursor && (member.spec.isIdle?.() ?? false)) {
        member.cursor = safe
        if (safe > member.skipBelow) member.skipBelow = safe
        this.#cursors?.changed(member.spec.sync, safe)
        this.#caughtUp(member)
      }
    }
    if (shouldRespond) this.#sendStatus(this.#cursors?.sent ?? 0n)
  }

  #sendStatus(lsn: Lsn): void {
    const connection = (this.#service as unknown as { _connection?: { sendCopyFromChunk(b: Buffer): void } } | null)?._connection
    if (connection === undefined || connection === null || lsn === 0n) return
    connection.sendCopyFromChunk(standbyStatus(lsn))
  }

  /** The lock is lost (its connection ended): every member's attempt ends; the next one takes the lock again. */
  #reset(error: RowcastError): void {
    this.#stopService()
    this.#control = null
    for (const release of this.#releases) release()
    this.#releases = []
    this.#cursors = null
    for (const member of [...this.#members.values()]) member.fail(error)
  }
}
