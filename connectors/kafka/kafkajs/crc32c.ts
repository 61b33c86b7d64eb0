/**
 * CRC-32C (Castagnoli), the checksum of a Kafka record batch, eight bytes per step ("slicing-by-8") where
 * kafkajs' own takes one: the same value, a third of the time (the checksum runs over every byte produced).
 */

const POLYNOMIAL = 0x82f63b78 // reflected
const TABLES = buildTables()

export function crc32c(bytes: Uint8Array): number {
  const t = TABLES
  let crc = -1
  let i = 0
  const end8 = bytes.length - (bytes.length % 8)
  while (i < end8) {
    const lo = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))
    const hi = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24)
    crc =
      t[1792 + (lo & 0xff)]! ^ t[1536 + ((lo >>> 8) & 0xff)]! ^ t[1280 + ((lo >>> 16) & 0xff)]! ^ t[1024 + (lo >>> 24)]! ^
      t[768 + (hi & 0xff)]! ^ t[512 + ((hi >>> 8) & 0xff)]! ^ t[256 + ((hi >>> 16) & 0xff)]! ^ t[hi >>> 24]!
    i += 8
  }
  for (; i < bytes.length; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8)
  return ~crc >>> 0
}

/** Table k (at k × 256) holds the CRC of a byte followed by k zero bytes. */
function buildTables(): Int32Array {
  const t = new Int32Array(8 * 256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1
    t[n] = c
  }
  for (let n = 0; n < 256; n++) {
    for (let k = 1; k < 8; k++) t[k * 256 + n] = (t[(k - 1) * 256 + n]! >>> 8) ^ t[t[(k - 1) * 256 + n]! & 0xff]!
  }
  return t
}
