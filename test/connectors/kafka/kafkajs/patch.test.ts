import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire, Module } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { groupMessagesPerPartition } from '../../../../connectors/kafka/kafkajs/group-messages.ts'
import { installKafkajsFastPaths } from '../../../../connectors/kafka/kafkajs/patch.ts'
import { encodeRecord, type RecordInput } from '../../../../connectors/kafka/kafkajs/record-encoder.ts'
import type { ProduceArguments } from '../../../../connectors/kafka/kafkajs/produce-request.ts'

const require = createRequire(import.meta.url)
const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')
const recordFile = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js')
const produceFile = require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js')

/** One of kafkajs' own modules, compiled from its file (the cache holds rowcast's). */
function kafkajsOwn<T>(path: string): T {
  const module = new Module(path) as Module & { _compile(source: string, file: string): void }
  module.filename = path
  module._compile(readFileSync(path, 'utf8'), path)
  return module.exports as T
}
const kafkajsOwnGrouping = () => kafkajsOwn<typeof groupMessagesPerPartition>(file)

type ProduceModule = (args: ProduceArguments) => { apiKey: number; apiVersion: number; apiName: string; expectResponse(): boolean; encode(): Promise<{ buffer: Buffer }> }

test("kafkajs' producer uses rowcast's grouping and produce request once installKafkajsFastPaths ran", async (t) => {
  t.mock.method(Date, 'now', () => 1_700_000_000_000) // the batches' timestamps, so that two encodings compare
  assert.deepEqual(installKafkajsFastPaths(), { version: require('kafkajs/package.json').version, grouping: true, produceRequest: true, reason: null })
  assert.equal(require(file), groupMessagesPerPartition)
  const produce = require(produceFile) as ProduceModule
  assert.notEqual(produce, kafkajsOwn<ProduceModule>(produceFile))
  const v7 = require('kafkajs/src/protocol/requests/produce/v7/request.js') as ProduceModule
  const args: ProduceArguments = { acks: -1, timeout: 30_000, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v' }] }] }] }
  assert.deepEqual((await v7(args).encode()).buffer, (await kafkajsOwn<ProduceModule>(produceFile)(args).encode()).buffer, 'v7 reuses v3: rowcast\'s encoder')
  assert.ok((await produce(args).encode()) instanceof (require('kafkajs/src/protocol/encoder.js') as new () => object), 'a kafkajs Encoder, as the request framing expects')
})

test("produce requests are encoded byte for byte as kafkajs' own request does", async (t) => {
  t.mock.method(Date, 'now', () => 1_700_000_000_000) // the batches' timestamps, so that two encodings compare
  installKafkajsFastPaths()
  const ours = require(produceFile) as ProduceModule
  const own = kafkajsOwn<ProduceModule>(produceFile)
  const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: unknown): unknown }
  const long = 'é'.repeat(5_000)
  const messages = (n: number, extra: (i: number) => object = () => ({})) =>
    Array.from({ length: n }, (_, i) => ({ key: i % 3 === 0 ? null : `key-${i}`, value: i % 5 === 0 ? long : `{"id":${i}}`, headers: i % 2 === 0 ? { 'rowcast-trigger': 'added', multi: ['a', 'b'] } : undefined, ...extra(i) }))
  const topicData: ProduceArguments['topicData'] = [
    { topic: 'orders', partitions: [{ partition: 0, messages: messages(300) }, { partition: 3, firstSequence: 1_234, messages: messages(2) }] },
    { topic: 'tópico', partitions: [{ partition: 1, messages: [{ key: Buffer.from([0, 1]), value: Buffer.alloc(70_000, 9) }, { key: 'k', value: null }] }] },
    { topic: 'empty', partitions: [{ partition: 2, messages: [] }] },
  ]
  const timestamped: ProduceArguments['topicData'] = [
    { topic: 'ts', partitions: [{ partition: 0, messages: messages(40, (i) => ({ timestamp: i % 4 === 0 ? null : String(1_700_000_000_000 + ((i * 7919) % 1_000)) })) }] },
    { topic: 'ts-numbers', partitions: [{ partition: 0, messages: messages(5, (i) => ({ timestamp: 1_700_000_000_000 - i * 10 })) }] },
  ]
  const cases: ProduceArguments[] = [
    { acks: -1, timeout: 30_000, topicData },
    { acks: 1, timeout: 5_000, topicData: timestamped },
    { acks: 0, timeout: 1, topicData: [] },
    { acks: -1, timeout: 30_000, transactionalId: 'rowcast-tx-ø', producerId: Long.fromValue('9007199254740993'), producerEpoch: 7, topicData },
    { acks: -1, timeout: 30_000, transactionalId: null, producerId: Long.fromValue(42), producerEpoch: 0, topicData: timestamped },
    { acks: -1, timeout: 30_000, compression: 1, topicData }, // GZIP: kafkajs' codec, given the same record bytes
  ]
  for (const [i, args] of cases.entries()) {
    const [a, b] = [ours(args), own(args)]
    assert.deepEqual({ ...a, encode: null, expectResponse: a.expectResponse() }, { ...b, encode: null, expectResponse: b.expectResponse() }, `case ${i}: request fields`)
    const [mine, theirs] = [(await a.encode()).buffer, (await b.encode()).buffer]
    assert.ok(mine.equals(theirs), `case ${i}: ${mine.length} bytes against kafkajs' ${theirs.length}`)
  }
})

test("records are encoded byte for byte as kafkajs' own encoder does", () => {
  const own = kafkajsOwn<(r: RecordInput) => { buffer: Buffer }>(recordFile)
  const long = 'x'.repeat(200) + 'é'.repeat(9_000) // multi-byte lengths, multi-byte UTF-8
  const values: RecordInput['value'][] = [null, '', 'a', '{"id":1,"name":"Zoë 🦀"}', long, Buffer.from([0, 255, 1]), Buffer.alloc(0), Buffer.alloc(20_000, 7)]
  const headers: RecordInput['headers'][] = [undefined, {}, { a: '1' }, { 'rowcast-trigger': 'added', empty: '', multi: ['x', 'y'], bin: Buffer.from('b') }]
  let cases = 0
  for (const [i, value] of values.entries()) {
    for (const key of [null, 'key-1', Buffer.from('k'), long]) {
      for (const h of headers) {
        for (const [offsetDelta, timestampDelta] of [[0, 0], [i, 1], [63, 64], [64, -65], [9_999, 2_000_000_000], [16_384, 5_000_000_000_000]] as const) {
          const input: RecordInput = { key, value, offsetDelta, timestampDelta, ...(h === undefined ? {} : { headers: h }) }
          assert.deepEqual(encodeRecord(input), own(input).buffer, JSON.stringify({ i, key: String(key).slice(0, 10), h, offsetDelta, timestampDelta }))
          cases++
        }
      }
    }
  }
  assert.equal(cases, 8 * 4 * 4 * 6)
})

test('the linear grouping gives what kafkajs gives: same partitions, same order', () => {
  const own = kafkajsOwnGrouping()
  assert.notEqual(own, groupMessagesPerPartition)
  const partitionMetadata = [{ partitionId: 0 }, { partitionId: 1 }, { partitionId: 2 }, { partitionId: 3 }, { partitionId: 4 }]
  const messages = Array.from({ length: 2_000 }, (_, i) => ({ key: `k${(i * 7919) % 613}`, value: String(i) }))
  const partitioner = ({ message }: { message: unknown }) => Number((message as { key: string }).key.slice(1)) % 5
  for (const input of [messages, messages.slice(0, 1), []]) {
    assert.deepEqual(groupMessagesPerPartition({ topic: 't', partitionMetadata, messages: input, partitioner }), own({ topic: 't', partitionMetadata, messages: input, partitioner }))
  }
  assert.deepEqual(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner }), {}, 'no metadata: nothing grouped, as in kafkajs')
})

test('the install runs once and logs its state once, at the first call given a logger', () => {
  const lines: { level: number; msg: string; grouping: boolean; produceRequest: boolean; component: string }[] = []
  const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => void (lines.push(JSON.parse(chunk.toString())), done()) })
  const logger = pino({ level: 'info' }, stream)
  const first = installKafkajsFastPaths(logger)
  assert.equal(installKafkajsFastPaths(logger), first, 'the same status')
  assert.equal(lines.length, 1)
  const [{ level, msg, component, grouping, produceRequest }] = lines
  assert.deepEqual({ level, msg, component, grouping, produceRequest }, { level: 30, msg: 'kafkajs fast paths active: grouping, produce request', component: 'kafkajs', grouping: true, produceRequest: true })
})

test('kafkajs loaded (and used) before rowcast: kafkajs keeps its own modules, and the status says why', () => {
  const patch = fileURLToPath(new URL('../../../../connectors/kafka/kafkajs/patch.ts', import.meta.url))
  const script = `
    import { createRequire } from 'node:module'
    const require = createRequire(${JSON.stringify(patch)})
    const stock = require('kafkajs/src/producer/groupMessagesPerPartition.js')
    require('kafkajs')
    require('kafkajs/src/protocol/requests/produce/v3/request.js') // kafkajs loads it with its first produce request
    const { installKafkajsFastPaths, loadKafkajs } = await import(${JSON.stringify(patch)})
    const status = installKafkajsFastPaths()
    loadKafkajs()
    console.log(JSON.stringify({ ...status, stock: require('kafkajs/src/producer/groupMessagesPerPartition.js') === stock }))`
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], { encoding: 'utf8' })
  const status = JSON.parse(out.trim().split('\n').at(-1) as string) as { grouping: boolean; produceRequest: boolean; reason: string; stock: boolean }
  assert.equal(status.grouping, false)
  assert.equal(status.produceRequest, false)
  assert.equal(status.stock, true, "kafkajs' own grouping stays")
  assert.match(status.reason, /kafkajs was loaded before rowcast could install the grouping and produce request/)
})

test("requests are framed byte for byte as kafkajs frames them", async () => {
  installKafkajsFastPaths()
  const frameFile = require.resolve('kafkajs/src/protocol/request.js')
  type Frame = (framed: { correlationId: number; clientId: string | null; request: { apiKey: number; apiVersion: number; encode(): Promise<unknown> } }) => Promise<{ buffer: Buffer }>
  const ours = require(frameFile) as Frame
  const own = kafkajsOwn<Frame>(frameFile)
  assert.notEqual(ours, own)
  const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => { writeInt32(n: number): unknown; writeString(s: string): unknown; writeBytes(b: Buffer): unknown }
  const payloads = [() => new Encoder(), () => { const e = new Encoder(); e.writeInt32(7); e.writeString('tópico'); return e }, () => { const e = new Encoder(); e.writeBytes(Buffer.alloc(300_000, 3)); return e }]
  for (const clientId of ['rowcast', 'clïent', '', null]) {
    for (const [i, payload] of payloads.entries()) {
      const framed = { correlationId: 123_456 + i, clientId, request: { apiKey: 0, apiVersion: 7, encode: async () => payload() } }
      assert.ok((await ours(framed)).buffer.equals((await own(framed)).buffer), `client id ${clientId}, payload ${i}`)
    }
  }
  await assert.rejects(ours({ correlationId: 1, clientId: 'x', request: { apiKey: 0, apiVersion: 7, encode: async () => ({}) } }), /value should be an instance of Encoder/)
})
