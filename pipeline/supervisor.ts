import { RowcastError, errorMessage } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import { Backoff, RetryWait, RECONNECT_BACKOFF } from '../core/retry.ts'
import type { ProblemKind, SyncState, Telemetry } from '../core/telemetry.ts'
import { Attempt, type AttemptEdges } from './attempt.ts'
import { problemKindOf } from './problem-kind.ts'
import type { DeliveryRecords } from './delivery-records.ts'

export interface SupervisorOptions {
  name: string
  exactlyOnce: boolean
  /** Opens each attempt's source and sink (pipeline/sync-edges.ts for the daemon; fakes in tests). */
  edges: AttemptEdges
  telemetry: Telemetry
  /** The sync's own logger (a child with its name) and telemetry shaping, shared with its edges. */
  logger: Logger
  records: DeliveryRecords
  /** Wait between attempts after a non-retriable failure (the error may be fixed meanwhile). */
  failedRetryMs?: number
  /** Translates an edge's library error into a RowcastError where it knows how (PostgreSQL's, for instance). */
  translateError?: (error: unknown) => unknown
}

/**
 * Runs one sync for as long as the daemon lives, one attempt after another: a retriable failure (a lost
 * connection, Kafka down too long) is retried with backoff (state `degraded`), anything else marks the sync
 * `failed` and is retried slowly. Each attempt starts again from the position the source confirmed.
 */
export class SyncSupervisor {
  readonly name: string
  readonly #options: SupervisorOptions
  readonly #logger: Logger
  readonly #records: DeliveryRecords
  #state: SyncState = 'starting'
  #kind: ProblemKind | undefined = undefined
  #stopping = false
  readonly #retryWait = new RetryWait()
  #loop: Promise<void> | null = null
  #current: Attempt | null = null

  constructor(options: SupervisorOptions) {
    this.#options = options
    this.name = options.name
    this.#logger = options.logger
    this.#records = options.records
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
    this.#retryWait.stop()
    await this.#current?.stop()
    await this.#loop
    this.#setState('stopped')
  }

  /** Emits a change of state, or of what a degraded state is about (Kafka, then PostgreSQL: two alerts). */
  #setState(state: SyncState, reason?: string, kind?: ProblemKind, position?: bigint): void {
    if (this.#state === state && this.#kind === kind && state !== 'failed') return
    this.#state = state
    this.#kind = kind
    this.#options.telemetry.emit('state', {
      sync: this.name, state, ...(reason === undefined ? {} : { reason }), ...(kind === undefined ? {} : { kind }), ...(position === undefined ? {} : { position }),
    })
  }

  async #supervise(): Promise<void> {
    const backoff = new Backoff(RECONNECT_BACKOFF)
    const { edges, exactlyOnce, telemetry } = this.#options
    while (!this.#stopping) {
      const attempt = new Attempt(edges, { exactlyOnce, logger: this.#logger, records: this.#records, setState: (s, r, k) => this.#setState(s, r, k) })
      this.#current = attempt
      try {
        await attempt.run()
        backoff.reset()
      } catch (caught) {
        if (this.#stopping) break
        const error = this.#options.translateError?.(caught) ?? caught
        const message = errorMessage(error)
        const delay = error instanceof RowcastError && error.retriable ? backoff.next() : (this.#options.failedRetryMs ?? 60_000)
        if (error instanceof RowcastError && error.retriable) {
          this.#logger.warn({ code: error.code, retryInMs: delay }, message)
          // Reconnecting (PostgreSQL or Kafka lost): not streaming until the next attempt does.
          this.#setState('degraded', message, problemKindOf(error))
          telemetry.emit('reconnect', { sync: this.name, target: /^(KAFKA|REGISTRY)_/.test(error.code) ? 'kafka' : 'postgres', error: message })
        } else {
          this.#logger.error({ code: error instanceof RowcastError ? error.code : 'INTERNAL', err: error instanceof RowcastError ? undefined : error }, message)
          this.#setState('failed', message, problemKindOf(error), error instanceof RowcastError ? error.position : undefined)
        }
        await this.#retryWait.sleep(delay)
      } finally {
        this.#current = null
      }
    }
  }

}
