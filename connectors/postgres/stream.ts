import { Observable } from 'rxjs'
import type pg from 'pg'
import { LogicalReplicationService } from 'pg-logical-replication'
import type { Batch, SourceChange } from '../../core/changes.ts'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.ts'
import { TransactionAssembler } from './transaction-assembler.ts'
import { PgoutputDecoder, type PgoutputMessage } from './pgoutput.ts'
import { ContainedDecoder, type UndecodableMessage } from './contained-decoder.ts'
import { assertReplicationInternals } from './library-internals.ts'
import { standbyStatus } from './standby-status.ts'
import { RelationShapes, type ShapeOptions } from './relation-shape.ts'
import { sessionConfig } from './session.ts'

export const HEARTBEAT_PREFIX = 'rowcast_heartbeat'

/** Writes a tiny transactional WAL message: an idle or fully filtered sync still sees commits and advances. */
export async function emitHeartbeat(client: pg.ClientBase, prefix = HEARTBEAT_PREFIX): Promise<void> {
  await client.query("SELECT pg_logical_emit_message(true, $1, '')", [prefix])
}

export interface ReplicationStreamOptions {
  connectionString: string
  slot: string
  publication: string
  /** A messages sync: the logical messages whose prefix starts with this become its changes (op `message`). */
  messagePrefix?: string
  /** pgoutput's origin option ('none': skip changes applied from another server; 16+). */
  origin?: 'any' | 'none'
  /** The model's columns and what to do when the table changes shape (relation-shape.ts); other columns are skipped. */
  shape: ShapeOptions
  /** A transaction larger than this is emitted in chunks (only the last one carries the commit LSN). */
  maxBatchRows: number
  /** How often to tell PostgreSQL our confirmed position even when nothing moves (keeps the walsender alive). */
  statusIntervalMs: number
  /**
   * wal_sender_timeout for this session (the walsender of a frozen client exits, freeing the slot) and the
   * client's receive bound: nothing (no data, no keepalive) for 1.5 × this while reading fails the stream.
   */
  receiveTimeoutMs?: number
  logger: Logger
  onTruncate?: (tables: string[]) => void
  /** The server's WAL end from keep-alives, for replication lag. */
  onServerPosition?: (lsn: Lsn) => void
  /** A transaction starts: its id and the LSN of its commit record (known up front), for exactly-once. */
  onBegin?: (txId: number, commitLsn: Lsn) => void
  /**
   * Whether every batch emitted so far is delivered (or dropped). When it is and no transaction is open,
   * a keep-alive's WAL position is confirmed: nothing before it remains to deliver. Without this, a fast
   * shutdown of PostgreSQL waits forever for the walsender, whose shutdown checkpoint is never confirmed.
   */
  isIdle?: () => boolean
  /** A snapshot watermark (watermark-merge.ts), with its transaction: the batches returned are emitted right there. */
  onWatermark?: (content: string, txId: number, commitLsn: Lsn, commitTime: number) => Batch<SourceChange>[]
  /** The batches complete at the first transaction committing at or after this (a slot drained up to a hand-off, slot-upgrade.ts). */
  stopAt?: Lsn
}

/**
 * The streaming half of the PostgreSQL source (source.ts coordinates it): pgoutput through pg-logical-replication, with automatic
 * acknowledgement off (it would confirm positions never delivered). The only position sent to the server
 * is the one `confirm()` is given by the checkpoint. `pause()`/`resume()` stop reading the socket, so
 * backpressure reaches PostgreSQL instead of growing a queue here.
 */
export class ReplicationStream {
  readonly #options: ReplicationStreamOptions
  #service: LogicalReplicationService | null = null
  #confirmed: Lsn = 0n
  #lastSent: Lsn = -1n
  #paused = false
  /** When the replication connection last delivered anything (reset on resume: a paused socket reads nothing). */
  #received = 0

  constructor(options: ReplicationStreamOptions) {
    this.#options = options
  }

  /** Streams batches from `startLsn` (the slot's confirmed position: PostgreSQL resumes there itself). */
  batches(startLsn: Lsn): Observable<Batch<SourceChange>> {
    return new Observable<Batch<SourceChange>>((subscriber) => {
      const { logger } = this.#options
      this.#confirmed = startLsn
      const receiveTimeout = this.#options.receiveTimeoutMs
      const service = new LogicalReplicationService(
        sessionConfig(this.#options.connectionString, undefined, receiveTimeout === undefined ? {} : { wal_sender_timeout: `${receiveTimeout}` }),
        { acknowledge: { auto: false, timeoutSeconds: 0 } },
      )
      this.#service = service
      // Per subscription: the first Relation message of a session is compared with the model afresh.
      const decoder = new ContainedDecoder(new PgoutputDecoder({ publication: this.#options.publication, ...(this.#options.messagePrefix === undefined ? {} : { messagePrefix: this.#options.messagePrefix }), shapes: new RelationShapes(this.#options.shape), ...(this.#options.origin === undefined ? {} : { origin: this.#options.origin }) }))

      let stopping = false
      const assembler = new TransactionAssembler(this.#options, {
        next: (batch) => subscriber.next(batch),
        fail: (error, undecodable) => {
          // An undecodable message: only this sync fails (the library would let the exception end the process), its socket stops.
          if (undecodable) this.#socket()?.pause()
          else stopping = true
          subscriber.error(error)
        },
      })
      const stopAt = this.#options.stopAt
      service.on('data', (lsn: string, message: PgoutputMessage | UndecodableMessage) => {
        if (stopping) return
        if (stopAt !== undefined && message.tag === 'begin' && message.commitLsn >= stopAt) {
          stopping = true // transactions are sent in commit order: every later one is past the hand-off too
          subscriber.complete()
          return
        }
        assembler.handle(lsn, message)
      })
      service.on('heartbeat', (lsn: string, _time: number, shouldRespond: boolean) => {
        const position = parseLsn(lsn)
        this.#options.onServerPosition?.(position)
        const idle = !assembler.inTransaction && position > this.#confirmed && this.#confirmed !== 0n && (this.#options.isIdle?.() ?? false)
        if (idle) this.#confirmed = position
        if (shouldRespond || idle) this.#sendStatus(true)
      })
      service.on('start', () => {
        try {
          assertReplicationInternals(service) // connected now: backpressure and standby status must work
        } catch (error) {
          subscriber.error(error)
        }
      })
      service.on('error', (error: Error) => {
        if (stopping) return
        subscriber.error(new RowcastError('PG_REPLICATION_LOST', `replication connection to PostgreSQL failed: ${errorMessage(error)}`, { cause: error }))
      })
      const timer = setInterval(() => this.#sendStatus(true), this.#options.statusIntervalMs)
      timer.unref()
      // A silently dead link: the walsender sends a keepalive at least every half wal_sender_timeout.
      this.#received = Date.now()
      const receiveWatch = receiveTimeout === undefined ? undefined : setInterval(() => {
        if (this.#paused || stopping || Date.now() - this.#received <= receiveTimeout * 1.5) return
        subscriber.error(new RowcastError('PG_REPLICATION_LOST', `nothing received from PostgreSQL for ${Date.now() - this.#received} ms`))
      }, Math.max(100, Math.floor(receiveTimeout / 2)))
      receiveWatch?.unref()
      const received = (): void => void (this.#received = Date.now())
      service.on('data', received)
      service.on('heartbeat', received)

      logger.info({ slot: this.#options.slot, from: formatLsn(startLsn) }, 'starting replication')
      service
        .subscribe(decoder, this.#options.slot, formatLsn(startLsn))
        .then(() => {
          if (!stopping) subscriber.error(new RowcastError('PG_REPLICATION_LOST', 'replication stream ended unexpectedly'))
        })
        .catch((error: unknown) => {
          if (!stopping) subscriber.error(translateStartError(error, this.#options.slot))
        })

      return () => {
        stopping = true
        clearInterval(timer)
        clearInterval(receiveWatch)
        this.#sendStatus(false)
        this.#service = null
        void service.destroy().catch(() => undefined)
      }
    })
  }

  /** The checkpoint's word: everything up to `lsn` is delivered; PostgreSQL may recycle WAL before it. */
  confirm(lsn: Lsn): void {
    if (lsn <= this.#confirmed) return
    this.#confirmed = lsn
    this.#sendStatus(false)
  }

  get confirmed(): Lsn {
    return this.#confirmed
  }

  pause(): void {
    if (this.#paused) return
    this.#paused = true
    this.#socket()?.pause()
  }

  resume(): void {
    if (!this.#paused) return
    this.#paused = false
    this.#received = Date.now()
    this.#socket()?.resume()
  }

  #socket(): { pause(): void; resume(): void } | undefined {
    // pg-logical-replication keeps the pg connection private; its socket is the only way to stop reading.
    return (this.#service as unknown as { _connection?: { stream?: { pause(): void; resume(): void } } } | null)?._connection?.stream
  }

  #sendStatus(always: boolean): void {
    if (!always && this.#confirmed === this.#lastSent) return
    const connection = (this.#service as unknown as { _connection?: { sendCopyFromChunk(b: Buffer): void } } | null)?._connection
    if (connection === undefined || connection === null || this.#confirmed === 0n) return
    connection.sendCopyFromChunk(standbyStatus(this.#confirmed))
    this.#lastSent = this.#confirmed
  }
}

function translateStartError(error: unknown, slot: string): RowcastError {
  const message = errorMessage(error)
  if (/is active for PID/.test(message)) return new RowcastError('PG_SLOT_ACTIVE', `replication slot "${slot}" is in use by another process`, { cause: error })
  if (/does not exist/.test(message)) return new RowcastError('PG_SLOT_MISSING', `replication slot "${slot}" does not exist: ${message}`, { cause: error })
  return new RowcastError('PG_REPLICATION_FAILED', `could not start replication from slot "${slot}": ${message}`, { cause: error })
}
