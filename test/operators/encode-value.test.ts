import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { Subject, lastValueFrom, of, toArray } from 'rxjs'
import type { TopicEncoders } from '../../core/contracts.ts'
import { encodeValue } from '../../operators/encode-value.ts'
import type { RoutedMessage } from '../../operators/route-topic.ts'
import type { Batch, ModelChange, RejectedChange } from '../../core/changes.ts'
import { RowcastError } from '../../core/errors.ts'
import { batch, marbles } from './marbles.ts'

type Item = RoutedMessage | RejectedChange

const change = (id: number): ModelChange => ({ type: 'added', table: 'public.t', row: { id }, previous: null, key: String(id), lsn: '0/1' })
const routed = (id: number, topic: string, value = `{"id":${id}}`): RoutedMessage => ({ change: change(id), value, topic })

/** Encoders that prefix the value with the topic; `{"id":0}` does not fit; topics become ready through prepare(). */
function encoders(ready: string[], prepareMs = 0): TopicEncoders & { prepared: string[][] } {
  const known = new Set(ready)
  const prepared: string[][] = []
  const encode = (topic: string) => (value: string | Buffer) => {
    if (String(value) === '{"id":0}') throw new RowcastError('ROW_SCHEMA_MISMATCH', 'the message does not fit the Avro schema: field "id"')
    return Buffer.from(`${topic}:${String(value)}`)
  }
  return {
    prepared,
    get: (topic) => (known.has(topic) ? encode(topic) : undefined),
    prepare: async (topics) => {
      prepared.push([...topics])
      await new Promise((r) => setTimeout(r, prepareMs))
      if (topics.includes('refused')) throw new RowcastError('SCHEMA_INCOMPATIBLE', 'HTTP 409: incompatible')
      for (const t of topics) known.add(t)
    },
  }
}

describe('encodeValue', () => {
  test('format json (no encoders): batches pass through untouched', () => {
    marbles().run(({ cold, expectObservable }) => {
      const a = batch<Item>([routed(1, 'users')])
      expectObservable(cold('a|', { a }).pipe(encodeValue(null))).toBe('a|', { a })
    })
  })

  test('ready topics encode synchronously; a value that does not fit becomes a schema row error; rejected items pass', () => {
    const earlier: RejectedChange = { change: change(7), reason: 'render', error: new Error('boom') }
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch<Item>([routed(1, 'users'), routed(0, 'users'), earlier]) })
      expectObservable(source.pipe(encodeValue(encoders(['users'])))).toBe('a|', {
        a: batch<Item>([
          { ...routed(1, 'users'), value: Buffer.from('users:{"id":1}') },
          { change: change(0), reason: 'schema', error: new RowcastError('ROW_SCHEMA_MISMATCH', 'the message does not fit the Avro schema: field "id"') },
          earlier,
        ]),
      })
    })
  })

  test('a new topic is prepared once, before its batch; later batches wait their turn (order kept)', async () => {
    const enc = encoders(['users'], 30)
    const input = new Subject<Batch<Item>>()
    const out = lastValueFrom(input.pipe(encodeValue(enc), toArray()))
    input.next(batch<Item>([routed(1, 'users'), routed(2, 'orders'), routed(3, 'refunds'), routed(4, 'orders')], 100n))
    input.next(batch<Item>([routed(5, 'users')], 200n)) // ready topic, but must not overtake the batch above
    input.next(batch<Item>([routed(6, 'orders')], 300n))
    input.complete()
    const batches = await out
    assert.deepEqual(batches.map((b) => b.commitLsn), [100n, 200n, 300n])
    assert.deepEqual(batches.flatMap((b) => b.items.map((i) => String((i as RoutedMessage).value))), [
      'users:{"id":1}', 'orders:{"id":2}', 'refunds:{"id":3}', 'orders:{"id":4}', 'users:{"id":5}', 'orders:{"id":6}',
    ])
    assert.deepEqual(enc.prepared, [['orders', 'refunds']])
  })

  test('the registry refusing a new topic\'s schema errors the stream (the sync fails)', async () => {
    const result = lastValueFrom(of(batch<Item>([routed(1, 'refused')])).pipe(encodeValue(encoders([]))))
    await assert.rejects(result, (error: RowcastError) => error.code === 'SCHEMA_INCOMPATIBLE')
  })

  test('the source is held while each registration waits, and released after it', async () => {
    const enc = encoders(['users'], 20)
    const holds: boolean[] = []
    const input = new Subject<Batch<Item>>()
    const out = lastValueFrom(input.pipe(encodeValue(enc, (waiting) => holds.push(waiting)), toArray()))
    input.next(batch<Item>([routed(1, 'orders')], 100n))
    assert.deepEqual(holds, [true], 'held as soon as the registration starts')
    input.next(batch<Item>([routed(2, 'refunds')], 200n)) // arrives meanwhile, needs a registration of its own
    input.next(batch<Item>([routed(3, 'users')], 300n))
    input.complete()
    await out
    assert.deepEqual(enc.prepared, [['orders'], ['refunds']])
    assert.deepEqual(holds, [true, false, true, false], 'held during each of the two registrations')
  })

  test('a refused registration releases the source too', async () => {
    const holds: boolean[] = []
    const result = lastValueFrom(of(batch<Item>([routed(1, 'refused')])).pipe(encodeValue(encoders([]), (waiting) => holds.push(waiting))))
    await assert.rejects(result)
    assert.deepEqual(holds, [true, false])
  })
})
