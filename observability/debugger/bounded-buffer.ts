/**
 * The most recent items within two bounds, a count and a byte total: pushing past either drops the oldest.
 * An item larger than the whole byte bound is not kept at all (it would push out everything else).
 */
export class BoundedBuffer<T> {
  readonly #maxItems: number
  readonly #maxBytes: number
  #items: ({ item: T; bytes: number } | undefined)[] = []
  #head = 0
  #bytes = 0

  constructor(maxItems: number, maxBytes: number) {
    if (!Number.isInteger(maxItems) || maxItems < 1) throw new RangeError(`maxItems must be a positive integer, got ${maxItems}`)
    if (!(maxBytes > 0)) throw new RangeError(`maxBytes must be positive, got ${maxBytes}`)
    this.#maxItems = maxItems
    this.#maxBytes = maxBytes
  }

  get size(): number {
    return this.#items.length - this.#head
  }

  get bytes(): number {
    return this.#bytes
  }

  /** Returns whether the item was kept. */
  push(item: T, bytes: number): boolean {
    if (bytes > this.#maxBytes) return false
    this.#items.push({ item, bytes })
    this.#bytes += bytes
    while (this.size > this.#maxItems || this.#bytes > this.#maxBytes) {
      this.#bytes -= (this.#items[this.#head] as { bytes: number }).bytes
      this.#items[this.#head++] = undefined // released now, not at the next compaction
    }
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head) // dropped slots are released in bulk, not one shift per push
      this.#head = 0
    }
    return true
  }

  /** Oldest first. */
  toArray(): T[] {
    const out: T[] = []
    for (let i = this.#head; i < this.#items.length; i++) out.push((this.#items[i] as { item: T }).item)
    return out
  }
}
