import pg from 'pg'
import { concat, EMPTY, tap, type Subscription } from 'rxjs'
import type { Kafka, Producer } from 'kafkajs'
import { backfill } from '../connectors/postgres/snapshot.ts'
import { translatePgError } from '../connectors/postgres/errors.ts'
import { formatLsn } from '../core/lsn.ts'
import { HEARTBEAT_PREFIX, ReplicationSource } from '../connectors/postgres/stream.ts'
import {
  createSlot, createSlotWithSnapshot, dropSlot, emitHeartbeat, ensurePublication, ensureStateTable, finishBackfill,
  readBackfillState, readSlot, tryLockSync, writeBackfillState,
} from '../connectors/postgres/setup.ts'
import { KafkaSink, type DeliveredMessage, type SinkLimits } from '../connectors/kafka/sink.ts'
import type { SchemaRegistryConfig } from '../connectors/kafka/schema-registry/config.ts'
import type { TopicEncoders } from '../operators/encode-value.ts'
import { readProgress, progressRecord, type DeliveryProgress } from '../connectors/kafka/exactly-once.ts'
import { rowErrorResolver, rowFailure } from '../operators/handle-row-errors.ts'
import type { Batch, ModelChange, OutgoingMessage, RejectedChange } from '../core/changes.ts'
import { Checkpoint } from './checkpoint.ts'
import type { SyncConfig } from '../config/root-schema.ts'
import { RowcastError, errorMessage } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { buildSteps, composeSteps, type OperatorInsertions } from './steps.ts'
import { resolveSync, type ResolvedSync } from './resolve-sync.ts'
import { prepareValueEncoders } from '../connectors/kafka/schema-registry/prepare-encoders.ts'
import type { SyncState, Telemetry } from '../core/telemetry.ts'

export interface SyncRunnerOptions {
  sync: SyncConfig
  index: number
  postgres: { url: string; heartbeatIntervalMs: number; statusIntervalMs: number }
  kafka: Kafka
  limits: SinkLimits & { maxBatchRows: number }
  progressTopic: string
  telemetry: Telemetry
  logger: Logger
  /** Custom operators at named points between the built-in steps (the library's and the config file's). */
  operators?: OperatorInsertions
  /** Wait between attempts after a non-retriable failure (the error may be fixed meanwhile). */
  failedRetryMs?: number
  /** `destination.schemaRegistry`, for message.format avro | json-schema. */
  schemaRegistry?: SchemaRegistryConfig
  /** The config file's folder (relative `message.schema` paths). */
  baseDir?: string
}

type SetState = (state: SyncState, reason?: string, kind?: 'fatal' | 'kafka-unreachable') => void

const LOCK_POLL_MS = 2_000
/** Debugger records per failed request: enough to see what waits, not a flood during an outage. */
const RETRYING_RECORDS = 20
const RESYNC_POLL_MS = 5_000

/**
 * Runs one sync for as long as the daemon lives: takes the sync's lock (one daemon streams it, another
 * waits to take over), checks it against the database, sets up publication and slot, backfills when
 * asked, then streams source → operators → sink, confirming positions through the checkpoint.
 * Retriable failures (connection lost, Kafka down too long) restart the stream from the slot's confirmed
 * position with backoff; anything else marks the sync failed and retries slowly.
 */
export class SyncRunner {
  readonly name: string
  readonly #options: SyncRunnerOptions
  readonly #logger: Logger
  #state: SyncState = 'starting'
  #stopping = false
  #stopSignal: (() => void) | null = null
  #loop: Promise<void> | null = null
  #current: Attempt | null = null

  constructor(options: SyncRunnerOptions) {
    this.#options = options
    this.name = options.sync.name
    this.#logger = options.logger.child({ component: 'sync', sync: options.sync.name })
  }

  get state(): SyncState {
    return this.#state
  }

  start(): void {
    this.#loop ??= this.#supervise()
  }

  /** Stops reading, lets in-flight messages reach Kafka, confirms what they covered, and closes. */
  async stop(): Promise<void> {
    this.#stopping = true
    this.#stopSignal?.()
    await this.#current?.stop()
    await this.#loop
    this.#setState('stopped')
  }

  #setState(state: SyncState, reason?: string, kind?: 'fatal' | 'kafka-unreachable'): void {
    if (this.#state === state && state !== 'failed') return
    this.#state = state
    this.#options.telemetry.emit('state', { sync: this.name, state, ...(reason === undefined ? {} : { reason }), ...(kind === undefined ? {} : { kind }) })
  }

  async #supervise(): Promise<void> {
    let backoff = 1_000
    while (!this.#stopping) {
      const attempt = new Attempt(this.#options, this.#logger, (s, r, k) => this.#setState(s, r, k))
      this.#current = attempt
      try {
        await attempt.run(() => this.#stopping)
        backoff = 1_000
      } catch (caught) {
        if (this.#stopping) break
        const error = translatePgError(caught)
        const retriable = error instanceof RowcastError && error.retriable
        const message = errorMessage(error)
        if (retriable) {
          this.#logger.warn({ code: (error as RowcastError).code, retryInMs: backoff }, message)
          // Reconnecting (PostgreSQL or Kafka lost): not streaming until the next attempt does.
          this.#setState('degraded', message, (error as RowcastError).code.startsWith('KAFKA') ? 'kafka-unreachable' : undefined)
          this.#options.telemetry.emit('reconnect', { sync: this.name, target: /^(KAFKA|REGISTRY)_/.test((error as RowcastError).code) ? 'kafka' : 'postgres', error: message })
        } else {
          this.#logger.error({ code: error instanceof RowcastError ? error.code : 'INTERNAL', err: error instanceof RowcastError ? undefined : error }, message)
          this.#setState('failed', message, 'fatal')
        }
        await this.#sleep(retriable ? backoff : (this.#options.failedRetryMs ?? 60_000))
        backoff = Math.min(backoff * 2, 30_000)
      } finally {
        this.#current = null
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.#stopSignal = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}

/** One attempt at streaming: from lock to failure or stop. Owns every connection it opens. */
class Attempt {
  readonly #o: SyncRunnerOptions
  readonly #logger: Logger
  readonly #setState: SetState
  readonly #cleanups: (() => Promise<void> | void)[] = []
  #fail: ((error: unknown) => void) | null = null
  #finish: (() => void) | null = null
  #sink: KafkaSink | null = null
  #subscription: Subscription | null = null
  #closeInput: (() => void) | null = null

  constructor(options: SyncRunnerOptions, logger: Logger, setState: SetState) {
    this.#o = options
    this.#logger = logger
    this.#setState = setState
  }

  async run(stopping: () => boolean): Promise<void> {
    const { sync, postgres } = this.#o
    const control = new pg.Client({ connectionString: postgres.url, options: '-c TimeZone=UTC' })
    control.on('error', (error) => this.#fail?.(new RowcastError('PG_CONNECTION_LOST', `PostgreSQL connection lost: ${error.message}`, { cause: error })))
    try {
      await control.connect()
    } catch (error) {
      throw new RowcastError('PG_UNREACHABLE', `cannot connect to PostgreSQL: ${errorMessage(error)}`, { cause: error })
    }
    this.#cleanups.push(() => control.end().catch(() => undefined))
    try {
      let waiting = false
      while (!(await tryLockSync(control, sync.name))) {
        if (!waiting) this.#logger.info('another rowcast streams this sync; waiting to take over')
        waiting = true
        if (stopping()) return
        await new Promise((r) => setTimeout(r, LOCK_POLL_MS))
      }
      const resolved = await resolveSync(control, sync, this.#o.index)
      for (const warning of resolved.warnings) this.#logger.warn(warning)
      const encoders = await prepareValueEncoders(resolved, { registry: this.#o.schemaRegistry, baseDir: this.#o.baseDir ?? process.cwd(), index: this.#o.index, logger: this.#logger })
      await ensureStateTable(control)
      await ensurePublication(control, resolved.publication)
      const start = await this.#prepareSlot(control, resolved)
      if (stopping()) return
      await this.#stream(control, resolved, start, encoders)
    } finally {
      await this.#cleanup()
    }
  }

  /** Creates or reuses the slot; decides whether a backfill runs first (from the slot's exported snapshot). */
  async #prepareSlot(control: pg.Client, resolved: ResolvedSync): Promise<{ lsn: bigint; backfill: { snapshot: string; close: () => Promise<void> } | null }> {
    const { sync, postgres } = this.#o
    const slot = await readSlot(control, resolved.slot)
    const state = await readBackfillState(control, sync.name)
    const wantsBackfill = state === 'resync' || (sync.initialSync === 'backfill' && (slot === null || state !== 'done'))
    if (!wantsBackfill) {
      if (slot !== null) return { lsn: slot.confirmedFlush, backfill: null }
      const lsn = await createSlot(control, resolved.slot)
      this.#logger.info({ slot: resolved.slot, lsn: formatLsn(lsn) }, 'created replication slot')
      return { lsn, backfill: null }
    }
    // A backfill that did not finish (or a resync) starts over from a fresh slot and snapshot.
    if (slot !== null) await dropSlot(control, resolved.slot)
    const created = await createSlotWithSnapshot(postgres.url, resolved.slot)
    await writeBackfillState(control, sync.name, 'pending')
    this.#logger.info({ slot: resolved.slot, lsn: formatLsn(created.consistentPoint), snapshot: created.snapshot }, 'created replication slot with snapshot for backfill')
    const close = () => created.connection.end().catch(() => undefined)
    this.#cleanups.push(close)
    return { lsn: created.consistentPoint, backfill: { snapshot: created.snapshot, close } }
  }

  async #stream(control: pg.Client, resolved: ResolvedSync, start: { lsn: bigint; backfill: { snapshot: string; close: () => Promise<void> } | null }, encoders: TopicEncoders | null): Promise<void> {
    const { sync, telemetry, limits, postgres, kafka } = this.#o
    const name = sync.name
    const exactlyOnce = sync.delivery === 'exactly-once'
    let serverLsn = 0n
    /** Source transaction id → its commit LSN (from BEGIN), so exactly-once can number a split transaction's chunks. */
    const txLsns = new Map<number, bigint>()

    const source = new ReplicationSource({
      connectionString: postgres.url,
      slot: resolved.slot,
      publication: resolved.publication.name,
      columns: resolved.columns,
      maxBatchRows: limits.maxBatchRows,
      statusIntervalMs: postgres.statusIntervalMs,
      logger: this.#logger,
      onTruncate: (tables) => {
        for (const table of tables) {
          this.#logger.warn({ table }, 'TRUNCATE of a model table: no messages are emitted for the removed rows (resync to re-send the model)')
          telemetry.emit('truncated', { sync: name, table })
        }
      },
      onServerPosition: (lsn) => {
        serverLsn = lsn
      },
      ...(exactlyOnce ? { onBegin: (txId: number, commitLsn: bigint) => void txLsns.set(txId, commitLsn) } : {}),
      isIdle: () => emittedBatches === openedBatches && checkpoint.pendingBatches === 0,
    })
    let emittedBatches = 0 // batches into the operators / opened in the checkpoint: equal when none is inside the operators
    let openedBatches = 0
    // Backfill batches are opened before any streamed one: once the checkpoint passes the slot's start, all were delivered.
    let backfillPending = start.backfill !== null
    const checkpoint = new Checkpoint(start.lsn, (lsn) => {
      source.confirm(lsn)
      if (backfillPending && lsn > start.lsn) {
        backfillPending = false
        void this.#markBackfillDone(control)
      }
      const oldest = checkpoint.oldestPendingCommitTime
      telemetry.emit('checkpoint', { sync: name, lsn, lagBytes: serverLsn > lsn ? Number(serverLsn - lsn) : 0, lagSeconds: oldest === 0 ? 0 : (Date.now() - oldest) / 1000 })
    })

    const producer = await this.#connectProducer(kafka, exactlyOnce ? `rowcast-${name}` : undefined)
    const admin = kafka.admin()
    await admin.connect().catch((error: unknown) => {
      throw new RowcastError('KAFKA_UNREACHABLE', `cannot connect to Kafka: ${errorMessage(error)}`, { cause: error })
    })
    this.#cleanups.push(() => admin.disconnect().catch(() => undefined))

    let resume: DeliveryProgress | null = null
    if (exactlyOnce) {
      // After the transactional producer connected: that fenced a killed predecessor and aborted its open transaction.
      resume = await readProgress(kafka, this.#o.progressTopic, name)
      if (resume.lsn > 0n) this.#logger.info({ through: formatLsn(resume.lsn), partial: resume.partial === null ? undefined : { txLsn: formatLsn(resume.partial.txLsn), messages: resume.partial.messages } }, 'exactly-once: skipping what is already committed to Kafka')
    }

    const failure = new Promise<never>((_, reject) => {
      this.#fail = reject
    })
    const finished = new Promise<void>((resolve) => {
      this.#finish = resolve
    })
    failure.catch(() => undefined)

    const resolveRowError = rowErrorResolver(name, sync.onRowError, this.#rowErrorEvents())
    let pressureWaiters: (() => void)[] = []
    let pressed = false
    const sink = new KafkaSink({
      producer,
      admin,
      limits,
      logger: this.#logger,
      ...(resume === null ? {} : { progress: { ...progressRecord(this.#o.progressTopic, name), resume } }),
      events: {
        acknowledged: (ticket, count) => checkpoint.acknowledge(ticket, count),
        pressure: (paused) => {
          telemetry.emit('paused', { sync: name, paused })
          pressed = paused
          if (paused) source.pause()
          else {
            source.resume()
            const waiters = pressureWaiters
            pressureWaiters = []
            for (const w of waiters) w()
          }
        },
        rowError: (rejected) => {
          try {
            return resolveRowError(rejected)
          } catch (error) {
            this.#recordRejected(rejected, 'rejected')
            throw error
          }
        },
        delivered: (messages, latency) => this.#reportDelivered(messages, latency),
        degraded: (error) => {
          if (error === null) this.#setState('streaming')
          else this.#setState('degraded', error.message, error.code === 'KAFKA_TOPIC_MISSING' ? undefined : 'kafka-unreachable')
        },
        ...(telemetry.wantsRecords ? { retrying: (messages: readonly OutgoingMessage[], error: RowcastError) => this.#recordRetrying(messages, error) } : {}),
        fatal: (error) => this.#fail?.(error),
      },
    })
    this.#sink = sink
    const capacity = () => (pressed ? new Promise<void>((r) => pressureWaiters.push(r)) : Promise.resolve())

    const backfill$ =
      start.backfill === null
        ? EMPTY
        : backfill({
            connectionString: postgres.url,
            table: resolved.table.name,
            columns: resolved.table.columns,
            filter: sync.model.filter ?? null,
            snapshot: start.backfill.snapshot,
            batchRows: limits.maxBatchRows,
            capacity,
            onProgress: (done, total) => telemetry.emit('backfill', { sync: name, done, total }),
            onSnapshotImported: () => void start.backfill?.close(),
          })
    const steps = buildSteps(resolved, {
      onUnchanged: (count) => telemetry.emit('filtered', { sync: name, count, reason: 'unchanged' }),
      onFiltered: (count) => telemetry.emit('filtered', { sync: name, count, reason: 'trigger' }),
      ...(telemetry.wantsRecords ? { onDropped: (changes: readonly ModelChange[]) => this.#recordFiltered(changes) } : {}),
      ...this.#rowErrorEvents(),
    }, encoders)
    const messages$ = concat(backfill$, source.batches(start.lsn)).pipe(tap(() => void emittedBatches++), composeSteps(steps, this.#o.operators))

    this.#setState(start.backfill === null ? 'streaming' : 'backfilling')
    let backfilling = start.backfill !== null
    let closing = false
    this.#closeInput = () => {
      // Stopping: read nothing more, so what is in flight can drain and be confirmed on the still-open replication connection.
      closing = true
      source.pause()
    }
    const onBatch = (batch: Batch<OutgoingMessage>) => {
      if (closing) return // never opened, so never confirmed: read again from the slot next time
      if (backfilling && batch.commitLsn !== null) {
        // The first streamed transaction: the backfill is read (the checkpoint records it done once delivered).
        backfilling = false
        this.#setState('streaming')
      }
      const txLsn = exactlyOnce && !backfilling ? (txLsns.get(batch.txId) ?? null) : null
      if (batch.commitLsn !== null) txLsns.delete(batch.txId)
      openedBatches++
      const ticket = checkpoint.open(batch.commitLsn, batch.items.length, batch.commitTime)
      if (batch.items.length > 0) telemetry.emit('inFlight', { sync: name, ...sink.inFlight })
      sink.enqueue(batch, ticket, txLsn)
    }
    this.#subscription = messages$.subscribe({
      next: (batch) => {
        try {
          onBatch(batch)
        } catch (error) {
          this.#fail?.(error)
        }
      },
      error: (error: unknown) => this.#fail?.(error),
    })

    const heartbeat = setInterval(() => {
      emitHeartbeat(control, HEARTBEAT_PREFIX).catch((error: unknown) => this.#logger.warn({ error: errorMessage(error) }, 'heartbeat failed'))
    }, postgres.heartbeatIntervalMs)
    let resyncing = false
    const resyncPoll = setInterval(() => {
      readBackfillState(control, name)
        .then((state) => {
          if (state !== 'resync' || resyncing) return
          // Deliver what is in flight, end this attempt; the next one finds 'resync' and backfills from a new slot.
          resyncing = true
          this.#logger.info('resync requested: re-sending the whole model')
          void this.stop()
        })
        .catch(() => undefined)
    }, RESYNC_POLL_MS)
    this.#cleanups.push(() => {
      clearInterval(heartbeat)
      clearInterval(resyncPoll)
    })

    await Promise.race([failure, finished])
  }

  async #markBackfillDone(control: pg.Client): Promise<void> {
    try {
      await finishBackfill(control, this.#o.sync.name)
      this.#logger.info('backfill delivered')
    } catch (error) {
      this.#logger.warn({ error: errorMessage(error) }, 'could not record the end of the backfill; it will run again on restart')
    }
  }

  async #connectProducer(kafka: Kafka, transactionalId?: string): Promise<Producer> {
    const producer = KafkaSink.producerFor(kafka, transactionalId)
    try {
      await producer.connect()
    } catch (error) {
      throw new RowcastError('KAFKA_UNREACHABLE', `cannot connect to Kafka: ${errorMessage(error)}`, { cause: error })
    }
    this.#cleanups.push(() => producer.disconnect().catch(() => undefined))
    return producer
  }

  #rowErrorEvents() {
    return {
      onSkipped: (rejected: RejectedChange) => this.#recordRejected(rejected, 'skipped'),
      onDeadLettered: (rejected: RejectedChange) => this.#recordRejected(rejected, 'dead-lettered'),
    }
  }

  /** The debugger shows messages waiting on a failed request (a sample: the first of each retry). */
  #recordRetrying(messages: readonly OutgoingMessage[], error: RowcastError): void {
    const { telemetry, sync } = this.#o
    const now = Date.now()
    for (const m of messages.slice(0, RETRYING_RECORDS)) {
      telemetry.emit('record', {
        sync: sync.name, time: now, type: m.change.type, table: m.change.table, key: m.change.key, row: m.change.row,
        message: typeof m.value === 'string' ? m.value : `(${m.value.length} bytes)`, topic: m.topic,
        ...(m.partition === null ? {} : { partition: m.partition }), ...(m.headers === null ? {} : { headers: m.headers }),
        status: 'retrying', error: error.message, lsn: m.change.lsn,
      })
    }
  }

  /** The debugger shows what the triggers dropped, too: deliberately not sent, with the reason. */
  #recordFiltered(changes: readonly ModelChange[]): void {
    const { telemetry, sync } = this.#o
    const now = Date.now()
    for (const change of changes) {
      telemetry.emit('record', {
        sync: sync.name, time: now, type: change.type, table: change.table, key: change.key, row: change.row,
        message: null, status: 'filtered', error: `${change.type} is not one of the sync's triggers`, lsn: change.lsn,
      })
    }
  }

  #recordRejected(rejected: RejectedChange, status: 'skipped' | 'dead-lettered' | 'rejected'): void {
    const { telemetry, sync } = this.#o
    const name = sync.name
    if (status === 'dead-lettered') telemetry.emit('deadLettered', { sync: name, reason: rejected.reason, count: 1 })
    else telemetry.emit('rejected', { sync: name, reason: rejected.reason, count: 1 })
    this.#logger.warn({ key: rejected.change.key, lsn: rejected.change.lsn, reason: rejected.reason, policy: status }, rowFailure(name, rejected).message)
    if (!telemetry.wantsRecords) return
    telemetry.emit('record', {
      sync: name, time: Date.now(), type: rejected.change.type, table: rejected.change.table, key: rejected.change.key,
      row: rejected.change.row, message: null, status, error: rejected.error.message, lsn: rejected.change.lsn,
    })
  }

  #reportDelivered(delivered: readonly DeliveredMessage[], produceLatencyMs: number): void {
    const { telemetry, sync } = this.#o
    const name = sync.name
    const now = Date.now()
    const byTopic = new Map<string, { count: number; bytes: number; latencies: number[] }>()
    const received = { added: 0, changed: 0, removed: 0 }
    for (const d of delivered) {
      let t = byTopic.get(d.message.topic)
      if (t === undefined) byTopic.set(d.message.topic, (t = { count: 0, bytes: 0, latencies: [] }))
      t.count++
      t.bytes += d.bytes
      if (d.commitTime > 0) t.latencies.push(now - d.commitTime)
      received[d.message.change.type]++
    }
    for (const [topic, t] of byTopic) telemetry.emit('produced', { sync: name, topic, count: t.count, bytes: t.bytes, produceLatencyMs, endToEndLatenciesMs: t.latencies })
    telemetry.emit('received', { sync: name, counts: received })
    if (this.#sink !== null) telemetry.emit('inFlight', { sync: name, ...this.#sink.inFlight })
    if (!telemetry.wantsRecords) return
    for (const d of delivered) {
      const m = d.message
      telemetry.emit('record', {
        sync: name, time: now, type: m.change.type, table: m.change.table, key: m.change.key, row: m.change.row,
        message: typeof m.value === 'string' ? m.value : `(${m.value.length} bytes)`, topic: m.topic, partition: d.partition, offset: d.offset < 0 ? '' : String(d.offset),
        ...(m.headers === null ? {} : { headers: m.headers }),
        status: m.deadLetter === undefined ? 'sent' : 'dead-lettered',
        ...(m.deadLetter === undefined ? {} : { error: m.deadLetter.error }),
        ...(d.commitTime > 0 ? { latencyMs: now - d.commitTime } : {}), lsn: m.change.lsn,
      })
    }
  }

  /** Graceful stop: no more input, in-flight messages delivered (bounded wait), positions confirmed. */
  async stop(): Promise<void> {
    if (this.#closeInput === null) this.#subscription?.unsubscribe()
    else this.#closeInput()
    const sink = this.#sink
    if (sink !== null) {
      const drained = sink.drain()
      const timeout = new Promise<void>((r) => setTimeout(r, 15_000).unref())
      await Promise.race([drained, timeout])
      sink.stop()
    }
    this.#subscription?.unsubscribe()
    this.#finish?.()
  }

  async #cleanup(): Promise<void> {
    this.#subscription?.unsubscribe()
    this.#sink?.stop()
    for (const cleanup of this.#cleanups.reverse()) await cleanup()
    this.#cleanups.length = 0
  }
}
