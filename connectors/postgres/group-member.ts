import { Observable, type Subscriber } from 'rxjs'
import type { Batch, SourceChange } from '../../core/changes.ts'
import type { Lsn } from '../../core/lsn.ts'
import { ContainedDecoder } from './contained-decoder.ts'
import type { DecodedRows } from './decoded-rows.ts'
import { PgoutputDecoder } from './pgoutput.ts'
import { RelationShapes, type ShapeOptions } from './relation-shape.ts'
import { TransactionAssembler, type AssemblerOptions } from './transaction-assembler.ts'

/** What a sync brings to its stream group: its table and publication, where it stands, and its stream hooks. */
export interface MemberSpec extends AssemblerOptions {
  sync: string
  /** The model's table (schema.table): the group routes it this table's messages only. */
  table: string
  publication: string
  origin?: 'any' | 'none'
  shape: ShapeOptions
  /** Every batch emitted so far is confirmed (keep-alive positions may then be confirmed). */
  isIdle?: () => boolean
  onServerPosition?: (lsn: Lsn) => void
  /** Parked (true, at the cursor it holds the slot at), then caught up again or detached (false). */
  onParked?: (parked: boolean, position: Lsn) => void
}

/** The group's side of a member: where the stream's messages for it go. */
export interface MemberHost {
  attach(member: GroupMember): void
  detach(member: GroupMember): void
  confirmed(member: GroupMember): void
  paused(member: GroupMember, paused: boolean): void
}

/**
 * One sync's share of a stream group (stream-group.ts): its own decoder (row messages decoded once for the members
 * that read them alike: decoded-rows.ts) and transaction assembly over the messages the group routes to it, its cursor (everything up to it is delivered), and the position it has
 * emitted up to, below which a transaction read again (after a restart of the group's stream) is skipped.
 * Shaped like ReplicationStream, so the sync's source uses either.
 */
export class GroupMember {
  readonly spec: MemberSpec
  readonly #host: MemberHost
  /** Delivered up to here (the checkpoint's word, or an idle keep-alive's). */
  cursor: Lsn = 0n
  /** Transactions committing before this were emitted already (or delivered before a restart): skipped. */
  skipBelow: Lsn = 0n
  /** The group's transaction this member has begun or skipped (its sequence number), and which of the two. */
  txSeq = -1
  skipping = false
  /** Paused for this long without resuming: the group parks it (stops routing to it) instead of waiting. */
  pausedSince: number | null = null
  parked = false
  /** Resumed after being parked: caught up once its cursor reaches this (where the stream had read when it resumed). */
  catchUpTo: Lsn | null = null
  /** The RELATION message buffer each relation id was last given to this member's decoder as. */
  readonly relationsSeen = new Map<number, Buffer>()
  #decoder: ContainedDecoder | null = null
  #assembler: TransactionAssembler | null = null
  #subscriber: Subscriber<Batch<SourceChange>> | null = null

  constructor(spec: MemberSpec, host: MemberHost) {
    this.spec = spec
    this.#host = host
  }

  get attached(): boolean {
    return this.#subscriber !== null
  }

  get inTransaction(): boolean {
    return this.#assembler?.inTransaction ?? false
  }

  get confirmed(): Lsn {
    return this.cursor
  }

  /** The member's batches from `start` (its cursor): subscribing attaches it to the group's stream, unsubscribing detaches it. */
  batches(start: Lsn): Observable<Batch<SourceChange>> {
    return new Observable<Batch<SourceChange>>((subscriber) => {
      const { spec } = this
      this.cursor = start
      this.skipBelow = start
      this.txSeq = -1
      this.parked = false
      this.catchUpTo = null
      this.pausedSince = null
      this.relationsSeen.clear()
      // Per attachment: the first Relation message is compared with the model afresh.
      this.#decoder = new ContainedDecoder(new PgoutputDecoder({ publication: spec.publication, shapes: new RelationShapes(spec.shape), ...(spec.origin === undefined ? {} : { origin: spec.origin }) }))
      this.#assembler = new TransactionAssembler(spec, {
        next: (batch) => {
          if (batch.commitLsn !== null && batch.commitLsn > this.skipBelow) this.skipBelow = batch.commitLsn
          subscriber.next(batch)
        },
        fail: (error) => subscriber.error(error),
      })
      this.#subscriber = subscriber
      this.#host.attach(this)
      return () => {
        this.#subscriber = null
        this.#host.detach(this)
      }
    })
  }

  /**
   * A message of the group's stream for this member (synchronous: `buffer` may be reused after the call). A row
   * message comes with `rows`, where members that read its table alike share one decoding of it.
   */
  feed(lsn: string, buffer: Buffer, rows?: DecodedRows): void {
    const decoder = this.#decoder
    if (decoder === null || this.#subscriber === null) return
    this.#assembler?.handle(lsn, rows === undefined ? decoder.parse(buffer) : rows.decode(decoder, buffer))
  }

  /** The group's stream failed: this member's attempt ends (and rejoins from its cursor). */
  fail(error: Error): void {
    this.#subscriber?.error(error)
  }

  /** The checkpoint's word: everything up to `lsn` is delivered. */
  confirm(lsn: Lsn): void {
    if (lsn <= this.cursor) return
    this.cursor = lsn
    this.#host.confirmed(this)
  }

  pause(): void {
    if (this.pausedSince !== null) return
    this.pausedSince = Date.now()
    this.#host.paused(this, true)
  }

  resume(): void {
    if (this.pausedSince === null && !this.parked) return
    this.pausedSince = null
    this.#host.paused(this, false)
  }
}
