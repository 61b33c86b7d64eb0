/**
 * Kafka's Java default partitioner for keyed records: toPositive(murmur2(utf8(key))) % partitions.
 * Math.imul gives Java's 32-bit int overflow, so results match org.apache.kafka.common.utils.Utils.murmur2.
 */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995
  const length = data.length
  let h = 0x9747b28c ^ length
  const whole = length & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m) ^ k
  }
  switch (length & 3) {
    case 3:
      h ^= data[whole + 2] << 16
    // falls through
    case 2:
      h ^= data[whole + 1] << 8
    // falls through
    case 1:
      h ^= data[whole]
      h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions
}
