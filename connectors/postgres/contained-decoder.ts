import type { Client } from 'pg'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import { assertBufferInternals } from './library-internals.ts'
import type { PgoutputDecoder, PgoutputMessage } from './pgoutput.ts'

/** What the replication stream gets instead of a message the decoder could not read. */
export interface UndecodableMessage {
  tag: 'undecodable'
  /** BEGIN, INSERT, RELATION…, or the unknown tag byte quoted. */
  messageType: string
  /** schema.table (or `relation <id>` when its RELATION message was not seen), for row and relation messages. */
  relation: string | null
  cause: unknown
}

/** The sync's failure for an undecodable message at `lsn`: the stream knows the position, the decoder the rest. */
export function decodeFailure(message: UndecodableMessage, lsn: string): RowcastError {
  const of = message.relation === null ? '' : ` of ${message.relation}`
  return new RowcastError('PG_DECODE_FAILED', `cannot decode pgoutput ${message.messageType} message${of} at LSN ${lsn}: ${errorMessage(message.cause)}`, { cause: message.cause })
}

const MESSAGE_TYPES: Record<number, string> = {
  0x42: 'BEGIN', 0x43: 'COMMIT', 0x52: 'RELATION', 0x49: 'INSERT', 0x55: 'UPDATE', 0x44: 'DELETE', 0x54: 'TRUNCATE',
  0x4f: 'ORIGIN', 0x59: 'TYPE', 0x4d: 'MESSAGE',
}

/**
 * The decoder as pg-logical-replication's plugin, with its exceptions kept inside the sync. The library calls
 * `parse` from the socket's data handler, outside any subscriber: an exception there would be uncaught and end
 * the whole process (every sync), at the same position again after each restart. Here it becomes an
 * `undecodable` message that the stream turns into the sync's failure, naming the LSN, relation and message type.
 */
export class ContainedDecoder {
  readonly #decoder: PgoutputDecoder
  /** Relation names by id, from RELATION messages, so a failing row message can say which table it was. */
  readonly #relations = new Map<number, string>()

  constructor(decoder: PgoutputDecoder) {
    assertBufferInternals()
    this.#decoder = decoder
  }

  /** pg-logical-replication's plugin interface: options, name, start, parse. */
  get options(): PgoutputDecoder['options'] {
    return this.#decoder.options
  }

  get name(): string {
    return this.#decoder.name
  }

  start(client: Client, slotName: string, lastLsn: string): Promise<unknown> {
    return this.#decoder.start(client, slotName, lastLsn)
  }

  /** See PgoutputDecoder.decodeKeyOf. */
  decodeKeyOf(buffer: Buffer): string | null {
    return this.#decoder.decodeKeyOf(buffer)
  }

  parse(buffer: Buffer): PgoutputMessage | UndecodableMessage {
    try {
      const message = this.#decoder.parse(buffer)
      if (message.tag === 'relation') this.#relations.set(buffer.readUInt32BE(1), message.relation.qualified)
      return message
    } catch (error) {
      return undecodable(buffer, this.#relations, error)
    }
  }
}

function undecodable(buffer: Buffer, relations: ReadonlyMap<number, string>, cause: unknown): UndecodableMessage {
  const kind = buffer[0] ?? 0
  return { tag: 'undecodable', messageType: MESSAGE_TYPES[kind] ?? `'${String.fromCharCode(kind)}'`, relation: describeRelation(buffer, kind, relations), cause }
}

function describeRelation(buffer: Buffer, kind: number, relations: ReadonlyMap<number, string>): string | null {
  if (buffer.length < 5) return null
  if (kind === 0x49 || kind === 0x55 || kind === 0x44 || kind === 0x52) {
    const id = buffer.readUInt32BE(1)
    if (kind === 0x52) return readRelationName(buffer) ?? `relation ${id}`
    return relations.get(id) ?? `relation ${id}`
  }
  return null
}

/** schema.name of a RELATION message (id, then two zero-terminated strings), if it is readable. */
function readRelationName(buffer: Buffer): string | null {
  const schemaEnd = buffer.indexOf(0, 5)
  const nameEnd = schemaEnd < 0 ? -1 : buffer.indexOf(0, schemaEnd + 1)
  if (nameEnd < 0) return null
  return `${buffer.toString('utf8', 5, schemaEnd)}.${buffer.toString('utf8', schemaEnd + 1, nameEnd)}`
}
