import type { Received } from './harness.ts'

/** A test message of a row: its identity (`id`, or another column), its version `n` and the change type. */
export type RowMessage = Record<string, unknown> & { n: number; type: string }

/** Per row identity: the last message (partition order; one key lives in one partition). */
export function lastByKey(messages: readonly Received[], identity = 'id'): Map<number, RowMessage> {
  const sorted = [...messages].sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))
  const last = new Map<number, RowMessage>()
  for (const m of sorted) {
    const value = JSON.parse(m.value) as RowMessage
    last.set(value[identity] as number, value)
  }
  return last
}

/**
 * Row identities whose last message is not the row in PostgreSQL (`final`: identity → n of the rows that exist).
 * A deleted row must end on `removed`, or never have arrived.
 */
export function wrongKeys(final: ReadonlyMap<number, number>, messages: readonly Received[], identity = 'id'): string[] {
  const last = lastByKey(messages, identity)
  const wrong: string[] = []
  for (const id of new Set([...final.keys(), ...last.keys()])) {
    const want = final.get(id)
    const got = last.get(id)
    if (want === undefined ? got !== undefined && got.type !== 'removed' : got === undefined || got.type === 'removed' || got.n !== want) {
      wrong.push(`${id}: want ${want ?? 'removed'}, got ${JSON.stringify(got)}`)
    }
  }
  return wrong
}
