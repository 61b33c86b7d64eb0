import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { castPartition, setKeyPartitionHeaders } from '../../operators/set-key-partition-headers.ts'
import type { RoutedMessage } from '../../operators/route-topic.ts'
import type { ModelChange, OutgoingMessage, RejectedChange } from '../../core/changes.ts'
import { batch, marbles } from './marbles.ts'

const change = (row: Record<string, unknown>): ModelChange => ({ type: 'added', table: 'public.t', row, previous: null, key: String(row.id), lsn: '0/1' })
const routed = (row: Record<string, unknown>): RoutedMessage => ({ change: change(row), value: '{"v":1}', topic: 'out' })

describe('setKeyPartitionHeaders', () => {
  test('key and partition from columns, headers as text, NULL means no header (and no headers at all -> null)', () => {
    const a = routed({ id: 1, order_id: 'o-1', part: '2', source: 'web', trace: null })
    const b = routed({ id: 2, order_id: null, part: 'not a number', source: null, trace: null })
    const c = routed({ id: 3, order_id: 77, part: 0, source: { nested: true }, trace: 'tr' })
    const rejected: RejectedChange = { change: change({ id: 9 }), reason: 'render', error: new Error('x') }
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch([a, b, c, rejected]) })
      const result = source.pipe(setKeyPartitionHeaders({ key: 'order_id', partition: 'part', headers: { 'x-source': 'source', 'x-trace': 'trace' } }))
      expectObservable(result).toBe('a|', {
        a: batch<OutgoingMessage | RejectedChange>([
          { ...a, key: 'o-1', partition: 2, headers: { 'x-source': 'web' } },
          { ...b, key: null, partition: null, headers: null },
          { ...c, key: '77', partition: 0, headers: { 'x-source': '{"nested":true}', 'x-trace': 'tr' } },
          rejected,
        ]),
      })
    })
  })

  test('nothing configured: no key, no partition, no headers', () => {
    const a = routed({ id: 1 })
    marbles().run(({ cold, expectObservable }) => {
      expectObservable(cold('a|', { a: batch([a]) }).pipe(setKeyPartitionHeaders({}))).toBe('a|', { a: batch<OutgoingMessage | RejectedChange>([{ ...a, key: null, partition: null, headers: null }]) })
    })
  })

  test('castPartition: numbers and numeric text cast, anything else is null', () => {
    const cases: [unknown, number | null][] = [
      [0, 0], [3, 3], ['3', 3], [' 4 ', 4], ['007', 7], [-1, -1], ['-2', -2], ['1e2', 100], ['0x10', 16],
      [null, null], [undefined, null], ['', null], ['   ', null], ['abc', null], ['3abc', null], [true, null], [false, null],
      [1.5, null], ['2.5', null], [Number.NaN, null], [Infinity, null], [2 ** 53, null], [{ p: 1 }, null], [[1], null], [5n, 5], ['12.0', 12],
    ]
    for (const [value, expected] of cases) assert.equal(castPartition(value), expected, `castPartition(${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value)})`)
  })
})
