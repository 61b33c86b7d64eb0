import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { RingBuffer } from '../../../observability/debugger/ring-buffer.ts'

describe('RingBuffer', () => {
  test('keeps items oldest first below capacity', () => {
    const buffer = new RingBuffer<number>(3)
    buffer.push(1)
    buffer.push(2)
    assert.deepEqual(buffer.toArray(), [1, 2])
    assert.equal(buffer.size, 2)
  })

  test('never holds more than its capacity and drops the oldest', () => {
    const buffer = new RingBuffer<number>(3)
    for (let i = 1; i <= 10; i++) buffer.push(i)
    assert.equal(buffer.size, 3)
    assert.deepEqual(buffer.toArray(), [8, 9, 10])
  })

  test('capacity 1 keeps the last item', () => {
    const buffer = new RingBuffer<string>(1)
    buffer.push('a')
    buffer.push('b')
    assert.deepEqual(buffer.toArray(), ['b'])
  })

  test('rejects a capacity that is not a positive integer', () => {
    assert.throws(() => new RingBuffer(0), RangeError)
    assert.throws(() => new RingBuffer(1.5), RangeError)
  })
})
