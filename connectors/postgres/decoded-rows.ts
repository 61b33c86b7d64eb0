import type { ContainedDecoder, UndecodableMessage } from './contained-decoder.ts'
import type { PgoutputMessage } from './pgoutput.ts'

/**
 * One row message (INSERT, UPDATE, DELETE) of a stream group's stream, decoded once for all the members it goes
 * to: each member's decoder keeps its own relations (its model, projection and schema-change policy decide how it
 * reads a table), and members whose relation has the same decode key (pgoutput.ts: the same columns read as the
 * same types, the same key columns, the same "covers the model") get the same decoded message; the others decode
 * it their way. Ten syncs of one busy table then decode each row once, not ten times.
 *
 * A decoded row that goes to more than one sync is frozen: each sync's steps (custom operators among them) see it,
 * and one writing into it would change what the others send.
 */
export class DecodedRows {
  #shared = false
  /** The common case, one decode key among the members: no map. */
  #firstKey: string | null = null
  #first: PgoutputMessage | UndecodableMessage | null = null
  readonly #others = new Map<string, PgoutputMessage | UndecodableMessage>()

  /** A new row message, for `members` members: what was decoded for the previous one is dropped (its buffer is reused). */
  next(members: number): void {
    this.#shared = members > 1
    this.#firstKey = null
    this.#first = null
    if (this.#others.size > 0) this.#others.clear()
  }

  /** The current row message as `decoder` reads it: decoded now, or as decoded for a member that reads it alike. */
  decode(decoder: ContainedDecoder, buffer: Buffer): PgoutputMessage | UndecodableMessage {
    const key = decoder.decodeKeyOf(buffer)
    if (key === null) return decoder.parse(buffer) // its relation unknown to this decoder: it fails its own way
    if (key === this.#firstKey) return this.#first!
    const known = this.#firstKey === null ? undefined : this.#others.get(key)
    if (known !== undefined) return known
    const message = decoder.parse(buffer)
    if (this.#shared) freezeRows(message)
    if (this.#firstKey === null) {
      this.#firstKey = key
      this.#first = message
    } else {
      this.#others.set(key, message)
    }
    return message
  }
}

function freezeRows(message: PgoutputMessage | UndecodableMessage): void {
  switch (message.tag) {
    case 'insert':
      Object.freeze(message.new)
      return
    case 'update':
      Object.freeze(message.new)
      if (message.old !== null) Object.freeze(message.old)
      if (message.key !== null) Object.freeze(message.key)
      return
    case 'delete':
      if (message.old !== null) Object.freeze(message.old)
      if (message.key !== null) Object.freeze(message.key)
      return
    default:
      return
  }
}
