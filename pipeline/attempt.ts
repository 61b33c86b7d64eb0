import { tap, type OperatorFunction, type Subscription } from 'rxjs'
import type { Batch, OutgoingMessage, SourceChange } from '../core/changes.ts'
import type { ChangeSource, ChangeSourceEvents, MessageSink, SinkEvents } from '../core/contracts.ts'
import type { Logger } from '../core/logger.ts'
import type { Lsn } from '../core/lsn.ts'
import { BatchOrder } from './batch-order.ts'
import type { ProblemKind, SyncState } from '../core/telemetry.ts'
import { problemKindOf } from './problem-kind.ts'
import { Checkpoint } from './checkpoint.ts'
import { SourceGate, type PauseReason } from './source-gate.ts'
import type { DeliveryRecords } from './delivery-records.ts'

/** The source of one attempt, opened: the change source and the sync's steps from its changes to messages. */
export interface OpenedSource {
  source: ChangeSource
  steps: OperatorFunction<Batch<SourceChange>, Batch<OutgoingMessage>>
  /** The custom operators among the steps, described for errors (e.g. `./x.ts (after composeMessage)`). */
  customOperators?: readonly string[]
}

/** What the pipeline needs to know while the source runs, besides positions. */
export interface SourceHooks extends ChangeSourceEvents {
  onServerPosition(lsn: Lsn): void
  /** Holds reading from PostgreSQL while a step waits (a schema registration); released with `held` false. */
  hold(reason: Extract<PauseReason, 'registry'>, held: boolean): void
}

/**
 * How an attempt opens its two edges. The daemon's are PostgreSQL and Kafka (pipeline/sync-edges.ts);
 * tests give fakes. `openSource` resolves null when `signal` aborts while it waits (for the sync's lock).
 */
export interface AttemptEdges {
  openSource(signal: AbortSignal, hooks: SourceHooks): Promise<OpenedSource | null>
  openSink(events: Omit<SinkEvents, 'rowError'>): Promise<MessageSink>
}

export interface AttemptContext {
  exactlyOnce: boolean
  logger: Logger
  records: DeliveryRecords
  setState(state: SyncState, reason?: string, kind?: ProblemKind): void
  /** Batches the checkpoint may hold before the source is paused (default: DEFAULT_MAX_PENDING_BATCHES). */
  maxPendingBatches?: number
}

/** How long a stop waits for in-flight messages to be acknowledged before it gives up on them (they are read again). */
const DRAIN_TIMEOUT_MS = 15_000

/**
 * One attempt at running a sync, from opening its edges to a failure or a stop: source → steps →
 * checkpoint → sink, and acknowledgements back through the checkpoint to the source. It owns what it opens.
 * `run()` resolves when stopped (or the source ends, e.g. for a resync) and rejects on a failure.
 */
export class Attempt {
  readonly #edges: AttemptEdges
  readonly #context: AttemptContext
  readonly #abort = new AbortController()
  readonly #stopped: Promise<void>
  #source: ChangeSource | null = null
  #sink: MessageSink | null = null
  #subscription: Subscription | null = null
  #outcome: { fail(error: unknown): void; finish(): void } | null = null
  #closing = false
  #stopping: Promise<void> | null = null

  constructor(edges: AttemptEdges, context: AttemptContext) {
    this.#edges = edges
    this.#context = context
    this.#stopped = new Promise((resolve) => this.#abort.signal.addEventListener('abort', () => resolve(), { once: true }))
  }

  async run(): Promise<void> {
    const outcome = new Promise<void>((finish, fail) => (this.#outcome = { finish, fail }))
    outcome.catch(() => undefined)
    let serverPosition = 0n
    const txLsns = new Map<number, Lsn>() // source transaction → its commit position (from BEGIN), for exactly-once
    let emitted = 0 // batches into the steps, and opened in the checkpoint: equal when none is inside the steps
    let opened = 0
    let checkpoint: Checkpoint | null = null
    let gate: SourceGate | null = null
    let held = false // a step held the source before the gate existed (registration during start-up)
    try {
      const hooks: SourceHooks = {
        isIdle: () => emitted === opened && checkpoint?.pendingBatches === 0,
        inFlightMessages: () => this.#sink?.inFlight.messages ?? 0,
        onServerPosition: (lsn) => (serverPosition = lsn),
        hold: (reason, on) => (gate === null ? (held = on) : gate.hold(reason, on)),
        ...(this.#context.exactlyOnce ? { onBegin: (txId: number, commitLsn: Lsn) => void txLsns.set(txId, commitLsn) } : {}),
      }
      const edges = await this.#unlessStopped(this.#edges.openSource(this.#abort.signal, hooks), (o) => o?.source.close())
      if (edges === undefined || edges === null) return
      const { source, steps } = edges
      const order = new BatchOrder(edges.customOperators ?? [])
      let failed = false
      this.#source = source
      const records = this.#context.records
      const bounds = new SourceGate(source, records, { closing: () => this.#closing, maxPendingBatches: this.#context.maxPendingBatches })
      gate = bounds
      if (held) bounds.hold('registry', true)
      const ledger = new Checkpoint(source.startPosition, (lsn) => {
        source.confirm(lsn)
        bounds.pendingBatches(ledger.pendingBatches)
        const oldest = ledger.oldestPendingCommitTime
        records.checkpoint(lsn, serverPosition > lsn ? Number(serverPosition - lsn) : 0, oldest === 0 ? 0 : (Date.now() - oldest) / 1000)
      })
      checkpoint = ledger
      const sink = await this.#unlessStopped(this.#edges.openSink(this.#sinkEvents(ledger, bounds)), (s) => s.close())
      if (sink === undefined) return
      this.#sink = sink

      let snapshotting = source.snapshotFirst
      this.#context.setState(snapshotting ? 'backfilling' : 'streaming')
      const enqueue = (batch: Batch<OutgoingMessage>) => {
        if (this.#closing) return // never opened, so never confirmed: read again next time
        order.leave(batch) // throws before opening a batch that overtook an earlier one: nothing is confirmed past it
        if (snapshotting && batch.commitLsn !== null) {
          snapshotting = false // the first streamed transaction: the snapshot is all read
          this.#context.setState('streaming')
        }
        const txLsn = this.#context.exactlyOnce && !snapshotting ? (txLsns.get(batch.txId) ?? null) : null
        if (batch.commitLsn !== null) txLsns.delete(batch.txId)
        opened++
        const ticket = ledger.open(batch.commitLsn, batch.items.length, batch.commitTime)
        bounds.pendingBatches(ledger.pendingBatches)
        if (batch.items.length > 0) records.inFlight(sink.inFlight)
        sink.enqueue(batch, ticket, txLsn)
      }
      this.#subscription = source.batches.pipe(tap((batch) => {
        emitted++
        order.enter(batch)
      }), steps).subscribe({
        next: (batch) => {
          if (failed) return // the attempt is ending: nothing more is opened
          try {
            enqueue(batch)
          } catch (error) {
            failed = true
            this.#outcome?.fail(error)
          }
        },
        error: (error: unknown) => this.#outcome?.fail(error),
        complete: () => void this.stop(), // the source ended (a resync): deliver what is in flight, then end
      })
      await outcome
    } finally {
      await this.#release()
    }
  }

  /** Graceful stop: no more input, in-flight messages delivered (bounded wait), their positions confirmed. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#closing = true
      this.#abort.abort()
      this.#source?.pause() // the replication connection stays open, so what drains can still be confirmed
      const sink = this.#sink
      if (sink !== null) {
        await Promise.race([sink.drain(), new Promise<void>((r) => setTimeout(r, DRAIN_TIMEOUT_MS).unref())])
        sink.stop()
      }
      this.#subscription?.unsubscribe()
      this.#outcome?.finish()
    })()
    return this.#stopping
  }

  #sinkEvents(checkpoint: Checkpoint, gate: SourceGate): Omit<SinkEvents, 'rowError'> {
    const { records, setState } = this.#context
    return {
      acknowledged: (ticket, count) => checkpoint.acknowledge(ticket, count),
      pressure: (paused) => gate.hold('sink', paused),
      delivered: (messages, latency) => {
        records.delivered(messages, latency, this.#sink?.inFlight ?? { messages: 0, bytes: 0 })
        if (!this.#closing) this.#source?.delivered?.()
      },
      degraded: (error) => {
        if (error === null) setState('streaming')
        else setState('degraded', error.message, problemKindOf(error))
      },
      ...(records.wantsRecords ? { retrying: (messages: readonly OutgoingMessage[], error) => records.retrying(messages, error) } : {}),
      fatal: (error) => this.#outcome?.fail(error),
    }
  }

  /** Waits for `opening` unless the attempt is stopped first; what opens after a stop is released at once. */
  async #unlessStopped<T>(opening: Promise<T>, release: (opened: T) => Promise<void> | void | undefined): Promise<T | undefined> {
    const stopped = this.#stopped.then(() => undefined)
    const winner = await Promise.race([opening.then((value) => ({ value })), stopped])
    if (winner !== undefined && !this.#abort.signal.aborted) return winner.value
    if (winner !== undefined) await release(winner.value)
    else opening.then(release, () => undefined)
    return undefined
  }

  async #release(): Promise<void> {
    this.#subscription?.unsubscribe()
    const sink = this.#sink
    const source = this.#source
    this.#sink = null
    this.#source = null
    await sink?.close()
    await source?.close()
  }
}
