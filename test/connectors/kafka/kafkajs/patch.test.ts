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
import { encodeRecord, type EncoderLike, type RecordInput } from '../../../../connectors/kafka/kafkajs/record-encoder.ts'

const require = createRequire(import.meta.url)
const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')
const recordFile = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js')

/** One of kafkajs' own modules, compiled from its file (the cache holds rowcast's). */
function kafkajsOwn<T>(path: string): T {
  const module = new Module(path) as Module & { _compile(source: string, file: string): void }
  module.filename = path
  module._compile(readFileSync(path, 'utf8'), path)
  return module.exports as T
}
const kafkajsOwnGrouping = () => kafkajsOwn<typeof groupMessagesPerPartition>(file)

test("kafkajs' producer uses rowcast's grouping and record encoder once installKafkajsFastPaths ran", () => {
  assert.deepEqual(installKafkajsFastPaths(), { version: require('kafkajs/package.json').version, grouping: true, recordEncoder: true, reason: null })
  assert.equal(require(file), groupMessagesPerPartition)
  const record = (require(recordFile) as (r: RecordInput) => EncoderLike)({ key: 'k', value: 'v' })
  assert.deepEqual(record.buf, encodeRecord({ key: 'k', value: 'v' }))
  assert.ok(record instanceof (require('kafkajs/src/protocol/encoder.js') as new () => object), 'a kafkajs Encoder, as RecordBatch expects')
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
  const lines: { level: number; msg: string; grouping: boolean; recordEncoder: boolean; component: string }[] = []
  const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => void (lines.push(JSON.parse(chunk.toString())), done()) })
  const logger = pino({ level: 'info' }, stream)
  const first = installKafkajsFastPaths(logger)
  assert.equal(installKafkajsFastPaths(logger), first, 'the same status')
  assert.equal(lines.length, 1)
  const [{ level, msg, component, grouping, recordEncoder }] = lines
  assert.deepEqual({ level, msg, component, grouping, recordEncoder }, { level: 30, msg: 'kafkajs fast paths active: grouping, record encoder', component: 'kafkajs', grouping: true, recordEncoder: true })
})

test('kafkajs loaded (and used) before rowcast: kafkajs keeps its own modules, and the status says why', () => {
  const patch = fileURLToPath(new URL('../../../../connectors/kafka/kafkajs/patch.ts', import.meta.url))
  const script = `
    import { createRequire } from 'node:module'
    const require = createRequire(${JSON.stringify(patch)})
    const stock = require('kafkajs/src/producer/groupMessagesPerPartition.js')
    require('kafkajs')
    require('kafkajs/src/protocol/recordBatch/record/v0/index.js') // kafkajs loads it with its first produce request
    const { installKafkajsFastPaths, loadKafkajs } = await import(${JSON.stringify(patch)})
    const status = installKafkajsFastPaths()
    loadKafkajs()
    console.log(JSON.stringify({ ...status, stock: require('kafkajs/src/producer/groupMessagesPerPartition.js') === stock }))`
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], { encoding: 'utf8' })
  const status = JSON.parse(out.trim().split('\n').at(-1) as string) as { grouping: boolean; recordEncoder: boolean; reason: string; stock: boolean }
  assert.equal(status.grouping, false)
  assert.equal(status.recordEncoder, false)
  assert.equal(status.stock, true, "kafkajs' own grouping stays")
  assert.match(status.reason, /kafkajs was loaded before rowcast could install the grouping and record encoder/)
})
