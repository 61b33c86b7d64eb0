import type { Batch, SourceChange } from '../../core/changes.ts'
import { RowcastError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn, parseLsn, type Lsn } from '../../core/lsn.ts'
import type { PgoutputMessage } from './pgoutput.ts'
import { decodeFailure, type UndecodableMessage } from './contained-decoder.ts'

export interface AssemblerOptions {
  /** A transaction larger than this is emitted in chunks (only the last one carries the commit LSN). */
  maxBatchRows: number
  logger: Logger
  onTruncate?: (tables: string[]) => void
  /** A transaction starts: its id and the LSN of its commit record (known up front), for exactly-once. */
  onBegin?: (txId: number, commitLsn: Lsn) => void
  /** A snapshot watermark (watermark-merge.ts), with its transaction: the batches returned are emitted right there. */
  onWatermark?: (content: string, txId: number, commitLsn: Lsn, commitTime: number) => Batch<SourceChange>[]
}

/** Where the assembler's output goes: batches in commit order, or the sync's failure (after which nothing more). */
export interface AssemblerOutput {
  next(batch: Batch<SourceChange>): void
  /** `undecodable`: the stream should stop reading at once (nothing after the message is passed on). */
  fail(error: RowcastError, undecodable: boolean): void
}

/**
 * Decoded pgoutput messages of one sync → its batches: a transaction's rows between BEGIN and COMMIT, split
 * every `maxBatchRows`, with watermarks' snapshot batches placed where they occur. Shared by the sync's own
 * replication stream (stream.ts) and a member of a stream group (stream-group.ts), which feeds it only the
 * messages of its tables.
 */
export class TransactionAssembler {
  readonly #options: AssemblerOptions
  readonly #out: AssemblerOutput
  #items: SourceChange[] = []
  #commitTime = 0
  #txId = 0
  #txCommitLsn = 0n
  #inTransaction = false
  #failed = false
  /** PostgreSQL sends RELATION messages at 0/0: a failure there is named by the last position before it. */
  #lastLsn = '0/0'

  constructor(options: AssemblerOptions, out: AssemblerOutput) {
    this.#options = options
    this.#out = out
  }

  get inTransaction(): boolean {
    return this.#inTransaction
  }

  get failed(): boolean {
    return this.#failed
  }

  handle(lsn: string, message: PgoutputMessage | UndecodableMessage): void {
    if (this.#failed) return // the sync is failing: nothing after the failure is passed on
    if (lsn !== '0/0') this.#lastLsn = lsn
    const items = this.#items
    switch (message.tag) {
      case 'undecodable':
        this.#failed = true
        this.#out.fail(decodeFailure(message, lsn === '0/0' ? `${this.#lastLsn} (the last position before it)` : lsn), true)
        return
      case 'begin':
        this.#inTransaction = true
        this.#items = []
        this.#commitTime = message.commitTime
        this.#txId = message.xid
        this.#txCommitLsn = message.commitLsn
        if (message.commitLsn !== 0n) this.#options.onBegin?.(this.#txId, message.commitLsn)
        return
      case 'insert':
        items.push({ op: 'insert', table: message.relation.qualified, row: message.new, previous: null, previousIsFull: false, lsn, modelShaped: message.modelShaped })
        break
      case 'update':
        items.push({ op: 'update', table: message.relation.qualified, row: message.new, previous: message.old ?? message.key, previousIsFull: message.old !== null, lsn, modelShaped: message.modelShaped, unchanged: message.unchanged })
        break
      case 'delete':
        items.push({ op: 'delete', table: message.relation.qualified, row: null, previous: message.old ?? message.key, previousIsFull: message.old !== null, lsn, modelShaped: message.modelShaped })
        break
      case 'relation': {
        const { relation } = message
        if (relation.stop !== null) {
          // Before any row of the new shape: nothing of it is emitted, and the transaction is not confirmed.
          this.#failed = true
          this.#out.fail(new RowcastError('PG_SCHEMA_CHANGED', relation.stop), false)
        } else if (relation.followed.length > 0) {
          this.#options.logger.warn({ table: relation.qualified, changes: relation.followed, lsn }, `schema change on ${relation.qualified} followed: ${relation.followed.join('; ')}`)
        }
        return
      }
      case 'message': {
        const change: SourceChange = { op: 'message', table: message.prefix, row: { prefix: message.prefix, content: message.content, transactional: message.transactional }, previous: null, previousIsFull: false, lsn: formatLsn(message.lsn) }
        if (this.#inTransaction) {
          items.push(change)
          break
        }
        // Not transactional: sent as PostgreSQL decodes it, in stream order, between transactions. Confirmed
        // past its own position (+1: no record starts there), so a restart does not send it again; for
        // exactly-once it is a transaction of its own at its position.
        this.#options.onBegin?.(0, message.lsn)
        this.#out.next({ items: [change], commitLsn: message.lsn + 1n, commitTime: Date.now(), txId: 0 })
        return
      }
      case 'watermark':
        for (const batch of this.#options.onWatermark?.(message.content, this.#txId, this.#txCommitLsn, this.#commitTime) ?? []) this.#out.next(batch)
        return
      case 'truncate':
        this.#options.onTruncate?.(message.relations.map((r) => r.qualified))
        return
      case 'commit': {
        this.#inTransaction = false
        const batch: Batch<SourceChange> = { items, commitLsn: message.commitEndLsn === 0n ? parseLsn(lsn) : message.commitEndLsn, commitTime: this.#commitTime, txId: this.#txId }
        this.#items = []
        this.#out.next(batch)
        return
      }
      default:
        return // origin, type, logical messages (our heartbeat's transaction still ends in a commit)
    }
    if (items.length >= this.#options.maxBatchRows) {
      this.#out.next({ items, commitLsn: null, commitTime: this.#commitTime, txId: this.#txId })
      this.#items = []
    }
  }
}
