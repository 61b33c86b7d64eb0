/**
 * A Kafka record (v2 message format, `Record` of a RecordBatch) encoded the way kafkajs' own
 * `protocol/recordBatch/record/v0` does, byte for byte, but sized first and written in place (into the
 * produce request's one buffer, produce-request.ts). kafkajs builds each record from two or more zero-filled
 * 512-byte encoders and one small Buffer per varint: about 40 % of everything rowcast allocated, and the
 * garbage that made its heap grow.
 *
 * Record => Length:varint Attributes:int8 TimestampDelta:varlong OffsetDelta:varint
 *           Key:varint-bytes Value:varint-bytes Headers:[HeaderKey:varint-string HeaderValue:varint-bytes]
 */

type Bytes = Buffer | string | null | undefined
export interface RecordInput {
  offsetDelta?: number
  timestampDelta?: number | string
  key?: Bytes
  value?: Bytes
  headers?: Record<string, Bytes | Bytes[]>
}
export interface EncoderLike {
  buf: Buffer
  offset: number
}

/** A kafkajs Encoder holding `buf` (what kafkajs' callers of an encoder read: `buf`, `offset`, `buffer`). */
export function encoderOf(encoderPrototype: object, buf: Buffer): EncoderLike {
  const encoder = Object.create(encoderPrototype) as EncoderLike
  encoder.buf = buf
  encoder.offset = buf.length
  return encoder
}

export function encodeRecord({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: RecordInput): Buffer {
  const body = recordBodySize(offsetDelta, timestampDelta, key, value, headers)
  const buf = Buffer.allocUnsafe(recordSize(body))
  const end = writeRecord(buf, 0, body, offsetDelta, timestampDelta, key, value, headers)
  if (end !== buf.length) throw new Error(`record encoding wrote ${end} of ${buf.length} bytes`)
  return buf
}

/** The bytes a record of this body size takes, its length prefix included. */
export function recordSize(bodySize: number): number {
  return uvarintSize(zigZag(bodySize)) + bodySize
}

/** Writes a record whose body is `bodySize` bytes (recordBodySize) at `pos`; returns the position after it. */
export function writeRecord(buf: Buffer, pos: number, bodySize: number, offsetDelta: number, timestampDelta: number | string, key: Bytes, value: Bytes, headers: RecordInput['headers'] = {}): number {
  pos = writeUVarInt(buf, pos, zigZag(bodySize))
  buf[pos++] = 0 // attributes: none are used
  pos = writeUVarInt(buf, pos, zigZag(Number(timestampDelta)))
  pos = writeUVarInt(buf, pos, zigZag(offsetDelta))
  pos = writeBytes(buf, pos, asBytes(key))
  pos = writeBytes(buf, pos, asBytes(value))
  pos = writeUVarInt(buf, pos, zigZag(headerCount(headers)))
  for (const name of Object.keys(headers)) {
    const entry = headers[name]
    if (Array.isArray(entry)) {
      for (const v of entry) pos = writeBytes(buf, writeBytes(buf, pos, name), asBytes(v))
    } else {
      pos = writeBytes(buf, writeBytes(buf, pos, name), asBytes(entry))
    }
  }
  return pos
}

/** A record's bytes after its length prefix. */
export function recordBodySize(offsetDelta: number, timestampDelta: number | string, key: Bytes, value: Bytes, headers: RecordInput['headers'] = {}): number {
  let body = 1 + uvarintSize(zigZag(Number(timestampDelta))) + uvarintSize(zigZag(offsetDelta)) + bytesSize(asBytes(key)) + bytesSize(asBytes(value)) + uvarintSize(zigZag(headerCount(headers)))
  for (const name of Object.keys(headers)) {
    const entry = headers[name]
    if (Array.isArray(entry)) for (const v of entry) body += bytesSize(name) + bytesSize(asBytes(v))
    else body += bytesSize(name) + bytesSize(asBytes(entry))
  }
  return body
}

function headerCount(headers: NonNullable<RecordInput['headers']>): number {
  let count = 0
  for (const name of Object.keys(headers)) {
    const entry = headers[name]
    count += Array.isArray(entry) ? entry.length : 1
  }
  return count
}

/** kafkajs writes Buffers as they are and anything else as its String(). */
function asBytes(value: unknown): Buffer | string | null {
  if (value === null || value === undefined) return null
  return Buffer.isBuffer(value) ? value : String(value)
}

function byteLength(value: Buffer | string): number {
  return typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length
}

function bytesSize(value: Buffer | string | null): number {
  if (value === null) return 1 // varint -1
  const length = byteLength(value)
  return uvarintSize(zigZag(length)) + length
}

function writeBytes(buf: Buffer, pos: number, value: Buffer | string | null): number {
  if (value === null) return writeUVarInt(buf, pos, 1)
  if (typeof value === 'string') {
    const length = Buffer.byteLength(value, 'utf8')
    pos = writeUVarInt(buf, pos, zigZag(length))
    return pos + buf.write(value, pos, length, 'utf8')
  }
  pos = writeUVarInt(buf, pos, zigZag(value.length))
  return pos + value.copy(buf, pos)
}

/** Zig-zag for any safe integer (a varlong's range, as far as a JS number reaches). */
function zigZag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1
}

function uvarintSize(n: number): number {
  let size = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    size++
  }
  return size
}

function writeUVarInt(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[pos++] = n
  return pos
}
