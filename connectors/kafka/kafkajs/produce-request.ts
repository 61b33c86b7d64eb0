/**
 * kafkajs' Produce request (`protocol/requests/produce/v3/request.js`, which v4–v7 reuse) encoded byte for
 * byte as kafkajs does, but into one exactly-sized buffer: kafkajs spreads every message into a new object,
 * builds each record batch, partition and topic in zero-filled encoders that double as they grow, and copies
 * every byte four more times on the way up (about a third of rowcast's CPU in a snapshot, most of its GC).
 * patch.ts puts this in kafkajs' place.
 *
 * ProduceRequest => TransactionalId:nullable-string Acks:int16 Timeout:int32 [Topic:string [Partition:int32 RecordSet]]
 * RecordSet      => Size:int32 FirstOffset:int64 Length:int32 PartitionLeaderEpoch:int32 Magic:int8 Crc:uint32 Body
 * Body           => Attributes:int16 LastOffsetDelta:int32 FirstTimestamp:int64 MaxTimestamp:int64
 *                   ProducerId:int64 ProducerEpoch:int16 FirstSequence:int32 Count:int32 Records (compressed or not)
 */
import { crc32c } from './crc32c.ts'
import { encoderOf, recordBodySize, recordSize, writeRecord, type EncoderLike, type RecordInput } from './record-encoder.ts'

/** What kafkajs gives the request: a producer's messages grouped per topic and partition. */
export interface ProduceArguments {
  acks: number
  timeout: number
  transactionalId?: string | null
  producerId?: unknown
  producerEpoch?: number
  compression?: number
  topicData: { topic: string; partitions: { partition: number; firstSequence?: number; messages: ProduceMessage[] }[] }[]
}
export interface ProduceMessage extends Pick<RecordInput, 'key' | 'value' | 'headers'> {
  timestamp?: string | number | null
}
interface Long {
  getHighBits(): number
  getLowBits(): number
}
/** The pieces of kafkajs the request is made of: its Encoder, Long and compression codecs. */
export interface KafkajsProtocol {
  encoderPrototype: object
  produceApiKey: number
  longFromValue(value: unknown): Long
  lookupCodec(compression: number): { compress(encoder: EncoderLike): Promise<Buffer> } | null
}

const MAGIC_BYTE = 2
const FIRST_OFFSET: Long = { getHighBits: () => 0, getLowBits: () => 0 }
const TRANSACTIONAL = 0x10
const CODEC_MASK = 0x07
/** PartitionLeaderEpoch, Magic and Crc: the bytes between Length and the Body the CRC covers. */
const BATCH_HEAD = 4 + 1 + 4
/** Attributes … FirstSequence, and the record count. */
const BODY_FIXED = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4

/** The module kafkajs requires as `produce/v3/request`. */
export function produceRequest(kafkajs: KafkajsProtocol) {
  return ({ acks, timeout, transactionalId = null, producerId = -1, producerEpoch = 0, compression = 0, topicData }: ProduceArguments) => ({
    apiKey: kafkajs.produceApiKey,
    apiVersion: 3,
    apiName: 'Produce',
    expectResponse: () => acks !== 0,
    encode: async () => encoderOf(kafkajs.encoderPrototype, await encodeProduceRequest(kafkajs, { acks, timeout, transactionalId, producerId, producerEpoch, compression, topicData })),
  })
}

interface PlannedBatch {
  partition: number
  messages: ProduceMessage[]
  firstSequence: number
  dateNow: number
  firstTimestamp: string | number
  maxTimestamp: string | number
  /** Each record's body size, in the messages' order. */
  bodySizes: number[]
  recordsSize: number
  /** The records' bytes once compressed; null when they are written in place. */
  compressed: Buffer | null
}

export async function encodeProduceRequest(kafkajs: KafkajsProtocol, request: Required<ProduceArguments>): Promise<Buffer> {
  const { acks, timeout, transactionalId, producerEpoch, compression, topicData } = request
  const producerId = kafkajs.longFromValue(request.producerId)
  const attributes = (compression & CODEC_MASK) | (transactionalId ? TRANSACTIONAL : 0)
  const codec = compression === 0 ? null : kafkajs.lookupCodec(compression)
  let size = stringSize(transactionalId) + 2 + 4 + 4
  const topics: { topic: string; batches: PlannedBatch[] }[] = []
  for (const { topic, partitions } of topicData) {
    size += stringSize(topic) + 4
    const batches: PlannedBatch[] = []
    for (const { partition, firstSequence = 0, messages } of partitions) {
      const batch = planBatch(partition, firstSequence, messages)
      if (codec !== null) {
        const records = Buffer.allocUnsafe(batch.recordsSize)
        writeRecords(records, 0, batch)
        batch.compressed = await codec.compress(encoderOf(kafkajs.encoderPrototype, records))
      }
      size += 4 + 4 + 8 + 4 + BATCH_HEAD + BODY_FIXED + (batch.compressed?.length ?? batch.recordsSize)
      batches.push(batch)
    }
    topics.push({ topic, batches })
  }

  const buf = Buffer.allocUnsafe(size)
  let pos = writeString(buf, 0, transactionalId)
  pos = buf.writeInt16BE(acks, pos)
  pos = buf.writeInt32BE(timeout, pos)
  pos = buf.writeInt32BE(topics.length, pos)
  for (const { topic, batches } of topics) {
    pos = writeString(buf, pos, topic)
    pos = buf.writeInt32BE(batches.length, pos)
    for (const batch of batches) {
      const bodySize = BODY_FIXED + (batch.compressed?.length ?? batch.recordsSize)
      pos = buf.writeInt32BE(batch.partition, pos)
      pos = buf.writeInt32BE(8 + 4 + BATCH_HEAD + bodySize, pos)
      pos = writeLong(buf, pos, FIRST_OFFSET)
      pos = buf.writeInt32BE(BATCH_HEAD + bodySize, pos)
      pos = buf.writeInt32BE(0, pos) // PartitionLeaderEpoch
      pos = buf.writeInt8(MAGIC_BYTE, pos)
      const crcAt = pos
      const bodyAt = crcAt + 4
      pos = buf.writeInt16BE(attributes, bodyAt)
      pos = buf.writeInt32BE(batch.messages.length - 1, pos)
      pos = writeLong(buf, pos, kafkajs.longFromValue(batch.firstTimestamp))
      pos = writeLong(buf, pos, kafkajs.longFromValue(batch.maxTimestamp))
      pos = writeLong(buf, pos, producerId)
      pos = buf.writeInt16BE(producerEpoch, pos)
      pos = buf.writeInt32BE(batch.firstSequence, pos)
      pos = buf.writeInt32BE(batch.messages.length, pos)
      pos = batch.compressed === null ? writeRecords(buf, pos, batch) : pos + batch.compressed.copy(buf, pos)
      buf.writeUInt32BE(crc32c(buf.subarray(bodyAt, pos)), crcAt)
    }
  }
  if (pos !== size) throw new Error(`produce request encoding wrote ${pos} of ${size} bytes`)
  return buf
}

/** A partition's batch: its timestamps as kafkajs takes them (the sorted non-null ones, else now) and its records' size. */
function planBatch(partition: number, firstSequence: number, messages: ProduceMessage[]): PlannedBatch {
  const dateNow = Date.now()
  let firstTimestamp: string | number = dateNow
  let maxTimestamp: string | number = dateNow
  const timestamps = messages.map((m) => m.timestamp).filter((t) => t != null)
  if (timestamps.length > 0) {
    timestamps.sort() // as kafkajs sorts them: as strings
    firstTimestamp = timestamps[0] as string | number
    maxTimestamp = timestamps[timestamps.length - 1] as string | number
  }
  const batch: PlannedBatch = { partition, messages, firstSequence, dateNow, firstTimestamp, maxTimestamp, bodySizes: new Array<number>(messages.length), recordsSize: 0, compressed: null }
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as ProduceMessage
    const body = recordBodySize(i, timestampDelta(batch, message), message.key, message.value, message.headers)
    batch.bodySizes[i] = body
    batch.recordsSize += recordSize(body)
  }
  return batch
}

function writeRecords(buf: Buffer, pos: number, batch: PlannedBatch): number {
  const { messages } = batch
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i] as ProduceMessage
    pos = writeRecord(buf, pos, batch.bodySizes[i] as number, i, timestampDelta(batch, message), message.key, message.value, message.headers)
  }
  return pos
}

/** kafkajs: `(message.timestamp || dateNow) - firstTimestamp`, JavaScript's coercions included. */
function timestampDelta(batch: PlannedBatch, message: ProduceMessage): number {
  return ((message.timestamp || batch.dateNow) as number) - (batch.firstTimestamp as number)
}

function stringSize(value: string | null): number {
  return 2 + (value == null ? 0 : Buffer.byteLength(value, 'utf8'))
}

function writeString(buf: Buffer, pos: number, value: string | null): number {
  if (value == null) return buf.writeInt16BE(-1, pos)
  const length = Buffer.byteLength(value, 'utf8')
  pos = buf.writeInt16BE(length, pos)
  return pos + buf.write(value, pos, length, 'utf8')
}

function writeLong(buf: Buffer, pos: number, value: Long): number {
  pos = buf.writeInt32BE(value.getHighBits(), pos)
  return buf.writeInt32BE(value.getLowBits(), pos)
}
