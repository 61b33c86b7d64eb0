/**
 * A Kafka record (v2 message format, `Record` of a RecordBatch) encoded the way kafkajs' own
 * `protocol/recordBatch/record/v0` does, byte for byte, but into one exactly-sized buffer. kafkajs builds
 * each record from two or more zero-filled 512-byte encoders and one small Buffer per varint: about 40 % of
 * everything rowcast allocated, and the garbage that made its heap grow. patch.ts puts this in kafkajs'
 * place; it returns a kafkajs Encoder holding the bytes, which is what RecordBatch expects.
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

export function recordEncoder(encoderPrototype: object): (record: RecordInput) => EncoderLike {
  return (record) => {
    const buf = encodeRecord(record)
    const encoder = Object.create(encoderPrototype) as EncoderLike
    encoder.buf = buf
    encoder.offset = buf.length
    return encoder
  }
}

export function encodeRecord({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: RecordInput): Buffer {
  const keyBytes = asBytes(key)
  const valueBytes = asBytes(value)
  const headerList: [string, Buffer | string | null][] = []
  for (const name of Object.keys(headers)) {
    const entry = headers[name]
    if (Array.isArray(entry)) for (const v of entry) headerList.push([name, asBytes(v)])
    else headerList.push([name, asBytes(entry)])
  }
  const timestamp = zigZag(Number(timestampDelta))
  const offset = zigZag(offsetDelta)
  let body = 1 + uvarintSize(timestamp) + uvarintSize(offset) + bytesSize(keyBytes) + bytesSize(valueBytes) + uvarintSize(zigZag(headerList.length))
  for (const [name, v] of headerList) body += bytesSize(name) + bytesSize(v)

  const bodyLength = zigZag(body)
  const buf = Buffer.allocUnsafe(uvarintSize(bodyLength) + body)
  let pos = writeUVarInt(buf, 0, bodyLength)
  buf[pos++] = 0 // attributes: none are used
  pos = writeUVarInt(buf, pos, timestamp)
  pos = writeUVarInt(buf, pos, offset)
  pos = writeBytes(buf, pos, keyBytes)
  pos = writeBytes(buf, pos, valueBytes)
  pos = writeUVarInt(buf, pos, zigZag(headerList.length))
  for (const [name, v] of headerList) {
    pos = writeBytes(buf, pos, name)
    pos = writeBytes(buf, pos, v)
  }
  if (pos !== buf.length) throw new Error(`record encoding wrote ${pos} of ${buf.length} bytes`)
  return buf
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
