import { map, Subject, type Observable } from 'rxjs'
import type { Batch, OutgoingMessage, SourceChange } from '../../core/changes.ts'
import type { ChangeSource, MessageSink, SinkEvents } from '../../core/contracts.ts'
import { createLogger } from '../../core/logger.ts'
import type { Lsn } from '../../core/lsn.ts'
import { Telemetry } from '../../core/telemetry.ts'
import type { AttemptEdges, OpenedSource, SourceHooks } from '../../pipeline/attempt.ts'
import { DeliveryRecords } from '../../pipeline/delivery-records.ts'

/** Fakes of a sync's two edges, for unit tests of the attempt and the supervisor (no database, no Kafka). */

export const silentLogger = createLogger({ level: 'silent' })

export function recordsFor(telemetry = new Telemetry()): DeliveryRecords {
  return new DeliveryRecords('fake', telemetry, silentLogger)
}

/** A source whose batches the test pushes, recording what the pipeline confirms. */
export class FakeSource implements ChangeSource {
  readonly input = new Subject<Batch<SourceChange>>()
  readonly confirmed: Lsn[] = []
  readonly calls: string[] = []
  closed = 0
  readonly startPosition: Lsn
  readonly snapshotFirst: boolean

  constructor(start: Lsn = 1n, snapshotFirst = false) {
    this.startPosition = start
    this.snapshotFirst = snapshotFirst
  }

  get batches(): Observable<Batch<SourceChange>> {
    return this.input
  }

  confirm(position: Lsn): void {
    this.confirmed.push(position)
  }

  pause(): void {
    this.calls.push('pause')
  }

  resume(): void {
    this.calls.push('resume')
  }

  delivered(): void {
    this.calls.push('delivered')
  }

  async close(): Promise<void> {
    this.closed++
  }

  /** One transaction with `rows` inserts, committed at `commitLsn`. */
  commit(commitLsn: Lsn, rows = 1): void {
    const items: SourceChange[] = Array.from({ length: rows }, (_, i) => ({
      op: 'insert', table: 'public.t', row: { id: i }, previous: null, previousIsFull: false, lsn: String(commitLsn),
    }))
    this.input.next({ items, commitLsn, commitTime: Date.now(), txId: Number(commitLsn) })
  }
}

/** A sink that queues what it is given and acknowledges only when the test says so. */
export class FakeSink implements MessageSink {
  readonly queued: { ticket: number; count: number; txLsn: Lsn | null }[] = []
  events: Omit<SinkEvents, 'rowError'> | null = null
  stopped = false
  closed = 0
  #acked = new Set<number>()
  #drained: (() => void)[] = []

  enqueue(batch: Batch<OutgoingMessage>, ticket: number, txLsn: Lsn | null): void {
    this.queued.push({ ticket, count: batch.items.length, txLsn })
    if (batch.items.length === 0) this.#acked.add(ticket)
  }

  get inFlight(): { messages: number; bytes: number } {
    return { messages: this.queued.filter((q) => !this.#acked.has(q.ticket)).reduce((n, q) => n + q.count, 0), bytes: 0 }
  }

  /** Kafka acknowledged every message of batch `ticket`. */
  ack(ticket: number): void {
    const entry = this.queued.find((q) => q.ticket === ticket)
    if (entry === undefined) throw new Error(`ticket ${ticket} was never enqueued`)
    this.#acked.add(ticket)
    this.events?.acknowledged(ticket, entry.count)
    if (this.inFlight.messages === 0) for (const done of this.#drained.splice(0)) done()
  }

  drain(): Promise<void> {
    if (this.inFlight.messages === 0 || this.stopped) return Promise.resolve()
    return new Promise((resolve) => this.#drained.push(resolve))
  }

  stop(): void {
    this.stopped = true
    for (const done of this.#drained.splice(0)) done()
  }

  async close(): Promise<void> {
    this.stop()
    this.closed++
  }
}

/** Every change becomes one message on topic t. */
export const toMessages = map((batch: Batch<SourceChange>): Batch<OutgoingMessage> => ({
  ...batch,
  items: batch.items.map((change) => ({
    change: { type: 'added', table: change.table, row: change.row ?? {}, previous: null, key: null, lsn: change.lsn },
    value: JSON.stringify(change.row), topic: 't', key: null, partition: null, headers: null,
  })),
}))

/** Edges that hand out the given fakes; `openSource` may be replaced to delay or fail. */
export function fakeEdges(source: FakeSource, sink: FakeSink, overrides: Partial<AttemptEdges> = {}): AttemptEdges & { hooks: SourceHooks | null } {
  const edges = {
    hooks: null as SourceHooks | null,
    async openSource(_signal: AbortSignal, hooks: SourceHooks): Promise<OpenedSource | null> {
      edges.hooks = hooks
      return { source, steps: toMessages }
    },
    async openSink(events: Omit<SinkEvents, 'rowError'>): Promise<MessageSink> {
      sink.events = events
      return sink
    },
    ...overrides,
  }
  return edges
}

/** Resolves once `predicate` holds (checked on every macrotask turn), or fails after `ms`. */
export async function until(predicate: () => boolean, ms = 2_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 1))
  }
}
