import type { Received } from './harness.ts'

/**
 * Checks a topic's messages against the changes committed in PostgreSQL. Each message is a change (id, n)
 * of key `id`; the committed changes of a key are n = 1..final (the writer increments n). Definitions:
 *   missing     a committed (id, n) that no message carries
 *   duplicates  messages beyond the first one for the same (id, n)
 *   order       per key, the first occurrences appear in increasing n (a replay after a restart may
 *               repeat earlier changes, but never put a new change before an older one)
 */
export interface DeliveryReport {
  written: number
  delivered: number
  duplicates: number
  missing: string[]
  outOfOrder: string[]
}

export function checkDelivery(messages: readonly Received[], finals: ReadonlyMap<number, number>): DeliveryReport {
  const sorted = [...messages].sort((a, b) => (a.partition - b.partition) || Number(BigInt(a.offset) - BigInt(b.offset)))
  const seen = new Map<number, Set<number>>()
  const last = new Map<number, number>()
  let duplicates = 0
  const outOfOrder: string[] = []
  for (const message of sorted) {
    const { id, n } = JSON.parse(message.value) as { id: number; n: number }
    let set = seen.get(id)
    if (set === undefined) seen.set(id, (set = new Set()))
    if (set.has(n)) {
      duplicates++
      continue
    }
    set.add(n)
    if (n < (last.get(id) ?? 0)) outOfOrder.push(`key ${id}: ${n} after ${last.get(id)} (partition ${message.partition} offset ${message.offset})`)
    last.set(id, n)
  }
  const missing: string[] = []
  let written = 0
  for (const [id, final] of finals) {
    written += final
    for (let n = 1; n <= final; n++) if (!(seen.get(id)?.has(n) ?? false)) missing.push(`${id}:${n}`)
  }
  return { written, delivered: sorted.length, duplicates, missing, outOfOrder }
}

/** Whether every committed change has arrived (cheap enough to poll). */
export function allArrived(messages: readonly Received[], finals: ReadonlyMap<number, number>): boolean {
  return checkDelivery(messages, finals).missing.length === 0
}
