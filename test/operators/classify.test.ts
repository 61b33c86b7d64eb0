import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { classify, keyFormatter, type ModelShape } from '../../operators/classify.ts'
import { UNCHANGED_TOAST } from '../../core/changes.ts'
import { JsonText } from '../../core/json-text.ts'
import type { ModelChange, SourceChange } from '../../core/changes.ts'
import { batch, marbles } from './marbles.ts'

const model: ModelShape = { table: 'public.users', columns: ['id', 'name', 'email'], keyColumns: ['id'] }
const T = 'public.users'

const insert = (row: Record<string, unknown>, lsn = '0/1'): SourceChange => ({ op: 'insert', table: T, row, previous: null, previousIsFull: false, lsn })
const update = (previous: Record<string, unknown> | null, row: Record<string, unknown>, previousIsFull = true, lsn = '0/2'): SourceChange => ({ op: 'update', table: T, row, previous, previousIsFull, lsn })
const remove = (previous: Record<string, unknown>, previousIsFull = true, lsn = '0/3'): SourceChange => ({ op: 'delete', table: T, row: null, previous, previousIsFull, lsn })

describe('classify', () => {
  test('insert -> added, update -> changed, delete -> removed, projected to the model in its column order', () => {
    marbles().run(({ cold, expectObservable }) => {
      const full = { email: 'a@x', secret: 's', name: 'A', id: 1 }
      const source = cold('a-b-c|', {
        a: batch([insert(full)]),
        b: batch([update(full, { ...full, name: 'B' })], 200n),
        c: batch([remove({ ...full, name: 'B' })], 300n),
      })
      const expected: Record<string, ReturnType<typeof batch<ModelChange>>> = {
        a: batch([{ type: 'added', table: T, row: { id: 1, name: 'A', email: 'a@x' }, previous: null, key: '1', lsn: '0/1' }]),
        b: batch([{ type: 'changed', table: T, row: { id: 1, name: 'B', email: 'a@x' }, previous: { id: 1, name: 'A', email: 'a@x' }, key: '1', lsn: '0/2' }], 200n),
        c: batch([{ type: 'removed', table: T, row: { id: 1, name: 'B', email: 'a@x' }, previous: null, key: '1', lsn: '0/3' }], 300n),
      }
      expectObservable(source.pipe(classify(model))).toBe('a-b-c|', expected)
    })
  })

  test('an update touching only columns outside the model is dropped and counted, and the batch (with its commit LSN) survives', () => {
    const counted: number[] = []
    marbles().run(({ cold, expectObservable }) => {
      const before = { id: 1, name: 'A', email: 'a@x', secret: 'old' }
      const source = cold('a|', { a: batch([update(before, { ...before, secret: 'new' }), update(before, { ...before, secret: 'newer' })], 500n) })
      expectObservable(source.pipe(classify(model, (n) => counted.push(n)))).toBe('a|', { a: batch<ModelChange>([], 500n) })
    })
    assert.deepEqual(counted, [2])
  })

  test('jsonb values compared by content: an identical object is unchanged', () => {
    const shape: ModelShape = { table: T, columns: ['id', 'meta'], keyColumns: ['id'] }
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch([update({ id: 1, meta: { x: [1] } }, { id: 1, meta: { x: [1] } }), update({ id: 1, meta: { x: [1] } }, { id: 1, meta: { x: [2] } })]) })
      expectObservable(source.pipe(classify(shape))).toBe('a|', {
        a: batch<ModelChange>([{ type: 'changed', table: T, row: { id: 1, meta: { x: [2] } }, previous: { id: 1, meta: { x: [1] } }, key: '1', lsn: '0/2' }]),
      })
    })
  })

  test('json/jsonb values (JsonText) compared by their text; the key of a JSON string is its content', () => {
    const shape: ModelShape = { table: T, columns: ['id', 'meta'], keyColumns: ['id'] }
    const j = (text: string) => new JsonText(text)
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch([update({ id: 1, meta: j('{"x": 1.10}') }, { id: 1, meta: j('{"x": 1.10}') }), update({ id: 1, meta: j('{"x": 1.10}') }, { id: 1, meta: j('{"x": 1.1}') })]) })
      expectObservable(source.pipe(classify(shape))).toBe('a|', {
        a: batch<ModelChange>([{ type: 'changed', table: T, row: { id: 1, meta: j('{"x": 1.1}') }, previous: { id: 1, meta: j('{"x": 1.10}') }, key: '1', lsn: '0/2' }]),
      })
    })
    assert.equal(keyFormatter(['k'])({ k: j('"a,b"') }), 'a,b')
    // Composite keys: a JSON array of the columns' text forms, so no two keys share a text.
    const pair = keyFormatter(['a', 'b'])
    assert.equal(pair({ a: 'a,b', b: 'c' }), '["a,b","c"]')
    assert.equal(pair({ a: 'a', b: 'b,c' }), '["a","b,c"]')
    assert.equal(pair({ a: 1, b: null }), '["1",null]')
    assert.notEqual(pair({ a: '', b: null }), pair({ a: null, b: '' }))
    assert.equal(pair({ a: '["x"]', b: j('{"n": 1.10}') }), '["[\\"x\\"]","{\\"n\\": 1.10}"]')
    assert.equal(keyFormatter(['k'])({ k: j('{"n": 12345678901234567890}') }), '{"n": 12345678901234567890}')
  })

  test('without the full old row every update is changed, and previous is null; a delete carries the key only', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch([update({ id: 1 }, { id: 1, name: 'A', email: 'a@x' }, false), remove({ id: 1 }, false)]) })
      expectObservable(source.pipe(classify(model))).toBe('a|', {
        a: batch<ModelChange>([
          { type: 'changed', table: T, row: { id: 1, name: 'A', email: 'a@x' }, previous: null, key: '1', lsn: '0/2' },
          { type: 'removed', table: T, row: { id: 1, name: null, email: null }, previous: null, key: '1', lsn: '0/3' },
        ]),
      })
    })
  })

  test('an unchanged TOAST value without the old row marks the change unavailable', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch([update({ id: 1 }, { id: 1, name: UNCHANGED_TOAST, email: 'e' }, false)]) })
      expectObservable(source.pipe(classify(model))).toBe('a|', {
        a: batch<ModelChange>([{ type: 'changed', table: T, row: { id: 1, name: UNCHANGED_TOAST, email: 'e' }, previous: null, key: '1', lsn: '0/2', unavailable: ['name'] }]),
      })
    })
  })

  test('an UPDATE of the key is removed (old key) + added (new key), with the full old row or with the old key only', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a-b|', {
        a: batch([update({ id: 1, name: 'A', email: 'e' }, { id: 5, name: 'A', email: 'e' })]),
        b: batch([update({ id: 5 }, { id: 6, name: 'A', email: 'e' }, false)], 200n),
      })
      expectObservable(source.pipe(classify(model))).toBe('a-b|', {
        a: batch<ModelChange>([
          { type: 'removed', table: T, row: { id: 1, name: 'A', email: 'e' }, previous: null, key: '1', lsn: '0/2' },
          { type: 'added', table: T, row: { id: 5, name: 'A', email: 'e' }, previous: null, key: '5', lsn: '0/2' },
        ]),
        b: batch<ModelChange>([
          { type: 'removed', table: T, row: { id: 5, name: null, email: null }, previous: null, key: '5', lsn: '0/2' },
          { type: 'added', table: T, row: { id: 6, name: 'A', email: 'e' }, previous: null, key: '6', lsn: '0/2' },
        ], 200n),
      })
    })
  })

  test('an old row without the model\'s key columns (identity on another index) is no key change', () => {
    const keyed: ModelShape = { table: T, columns: ['id', 'email'], keyColumns: ['id'] }
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch([update({ email: 'old@x' }, { id: 1, email: 'new@x' }, false)]) })
      expectObservable(source.pipe(classify(keyed))).toBe('a|', {
        a: batch<ModelChange>([{ type: 'changed', table: T, row: { id: 1, email: 'new@x' }, previous: null, key: '1', lsn: '0/2' }]),
      })
    })
  })

  test('key formatting: one column as text, several joined by ",", NULL -> null (or empty inside a composite)', () => {
    assert.equal(keyFormatter(['id'])({ id: 42 }), '42')
    assert.equal(keyFormatter(['id'])({ id: 'abc' }), 'abc')
    assert.equal(keyFormatter(['id'])({ id: null }), null)
    assert.equal(keyFormatter(['id'])({ id: { a: 1 } }), '{"a":1}')
    assert.equal(keyFormatter(['id'])({ id: true }), 'true')
    assert.equal(keyFormatter(['tenant', 'id'])({ tenant: 't1', id: 7 }), '["t1","7"]')
    assert.equal(keyFormatter(['tenant', 'id'])({ tenant: null, id: 7 }), '[null,"7"]')
    assert.equal(keyFormatter([])({ id: 1 }), null)
  })
})
