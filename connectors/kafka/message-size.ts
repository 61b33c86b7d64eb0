import type { OutgoingMessage } from '../../core/changes.ts'

/** A message's size in bytes as the in-flight and request limits count it: value, key, header names and values. */
export function messageSize(message: OutgoingMessage): number {
  let bytes = typeof message.value === 'string' ? Buffer.byteLength(message.value) : message.value.length
  if (message.key !== null) bytes += Buffer.byteLength(message.key)
  if (message.headers !== null) for (const [k, v] of Object.entries(message.headers)) bytes += k.length + Buffer.byteLength(v)
  return bytes
}

/** The sum of `sizes[from..to)`. */
export function sumOf(sizes: readonly number[], from = 0, to = sizes.length): number {
  let total = 0
  for (let i = from; i < to; i++) total += sizes[i]
  return total
}
