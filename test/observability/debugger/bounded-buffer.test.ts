import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { BoundedBuffer } from '../../../observability/debugger/bounded-buffer.ts'
import { recordSize } from '../../../observability/debugger/record-size.ts'

describe('BoundedBuffer', () => {
  test('keeps the most recent items within the count, oldest first', () => {
    const buffer = new BoundedBuffer<number>(3, 1_000)
    for (let i = 1; i <= 5; i++) buffer.push(i, 1)
    assert.deepEqual(buffer.toArray(), [3, 4, 5])
    assert.equal(buffer.bytes, 3)
  })

  test('keeps the most recent items within the bytes: large items push out more of the old ones', () => {
    const buffer = new BoundedBuffer<string>(100, 1_000)
    for (let i = 0; i < 10; i++) buffer.push(`small${i}`, 100)
    assert.equal(buffer.size, 10)
    buffer.push('large', 600)
    assert.deepEqual(buffer.toArray(), ['small6', 'small7', 'small8', 'small9', 'large'])
    assert.ok(buffer.bytes <= 1_000)
  })

  test('an item larger than the byte bound is not kept and pushes nothing out', () => {
    const buffer = new BoundedBuffer<string>(10, 1_000)
    buffer.push('a', 10)
    assert.equal(buffer.push('huge', 1_001), false)
    assert.deepEqual(buffer.toArray(), ['a'])
  })

  test('a million pushes stay within both bounds', () => {
    const buffer = new BoundedBuffer<number>(500, 50_000)
    for (let i = 0; i < 1_000_000; i++) buffer.push(i, 50 + (i % 200))
    assert.ok(buffer.size <= 500 && buffer.bytes <= 50_000)
    assert.equal(buffer.toArray().at(-1), 999_999)
  })

  test('rejects bounds that keep nothing', () => {
    assert.throws(() => new BoundedBuffer(0, 10), RangeError)
    assert.throws(() => new BoundedBuffer(1.5, 10), RangeError)
    assert.throws(() => new BoundedBuffer(1, 0), RangeError)
  })
})

describe('recordSize', () => {
  test('grows with the row, the message and nested values', () => {
    const base = { row: { id: 1 }, message: '{"id":1}' }
    const big = { row: { id: 1, doc: { text: 'x'.repeat(100_000) } }, message: 'y'.repeat(50_000) }
    assert.ok(recordSize(base) < 400)
    assert.ok(recordSize(big) >= 150_000)
    assert.ok(recordSize({ row: { b: Buffer.alloc(10_000) }, message: null }) >= 10_000)
  })
})
