import { describe, test } from 'node:test'
import { catchError, map, of } from 'rxjs'
import assert from 'node:assert/strict'
import { handleRowErrors, onRowErrorSchema, rowErrorResolver } from '../../operators/handle-row-errors.ts'
import type { Batch, ModelChange, OutgoingMessage, RejectedChange } from '../../core/changes.ts'
import { RowcastError } from '../../core/errors.ts'
import { JsonText } from '../../core/json-text.ts'
import { batch, marbles } from './marbles.ts'

const change = (id: number): ModelChange => ({ type: 'changed', table: 'public.orders', row: { id, note: 'n"\n' }, previous: { id, note: 'old' }, key: String(id), lsn: `0/${id}` })
const message = (id: number): OutgoingMessage => ({ change: change(id), value: `{"id":${id}}`, topic: 'orders', key: String(id), partition: null, headers: null })
const rejected = (id: number): RejectedChange => ({ change: change(id), reason: 'render', error: new RowcastError('ROW_INVALID_JSON', 'the template did not render valid JSON') })

describe('handleRowErrors', () => {
  test('skip: rejected rows are dropped and reported, good ones pass; the emptied batch survives', () => {
    const skipped: RejectedChange[] = []
    const bad = rejected(2)
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a-b|', { a: batch([message(1), bad, message(3)], null), b: batch([rejected(4)], 700n) })
      expectObservable(source.pipe(handleRowErrors('orders_sync', 'skip', { onSkipped: (r) => skipped.push(r) }))).toBe('a-b|', {
        a: batch([message(1), message(3)], null),
        b: batch<OutgoingMessage>([], 700n),
      })
    })
    assert.deepEqual(skipped.map((r) => r.change.key), ['2', '4'])
  })

  test('deadLetter: a message to the dead-letter topic with the row, the error and the sync', () => {
    const dead: RejectedChange[] = []
    const withoutClock = map((b: Batch<OutgoingMessage>) => ({
      ...b,
      items: b.items.map((m) => {
        if (m.deadLetter === undefined) return m
        const { failedAt, ...value } = JSON.parse(m.value as string) as Record<string, unknown>
        assert.ok(!Number.isNaN(Date.parse(String(failedAt))), 'failedAt is a time')
        // The smaller form a dead letter too large for its topic is sent in: the same letter without the rows.
        const { withoutRow, ...deadLetter } = m.deadLetter
        const { failedAt: at, ...slim } = JSON.parse(withoutRow?.('too big') ?? 'null') as Record<string, unknown>
        assert.equal(at, failedAt)
        assert.deepEqual(slim, { ...value, row: null, previous: null, omitted: 'too big' })
        return { ...m, value, deadLetter }
      }),
    }))
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch([message(1), rejected(2)]) })
      const result = source.pipe(handleRowErrors('orders_sync', { deadLetter: { topic: 'orders-dlq' } }, { onDeadLettered: (r) => dead.push(r) }), withoutClock)
      expectObservable(result).toBe('a|', {
        a: batch<unknown>([
          message(1),
          {
            change: change(2),
            topic: 'orders-dlq',
            key: '2',
            partition: null,
            headers: { 'rowcast-sync': 'orders_sync', 'rowcast-error-reason': 'render' },
            deadLetter: { reason: 'render', error: 'the template did not render valid JSON' },
            value: {
              sync: 'orders_sync', table: 'public.orders', type: 'changed', key: '2', lsn: '0/2', reason: 'render', code: 'ROW_INVALID_JSON',
              error: 'the template did not render valid JSON', row: { id: 2, note: 'n"\n' }, previous: { id: 2, note: 'old' },
            },
          },
        ]),
      })
    })
    assert.equal(dead.length, 1)
  })

  test('fail (the default): the stream errors with the sync, the key and the cause in the message', () => {
    assert.equal(onRowErrorSchema.parse(undefined), 'fail')
    const described = catchError((error: unknown) => {
      assert.ok(error instanceof RowcastError)
      assert.ok(error.cause instanceof RowcastError, 'the row error is the cause')
      return of({ code: error.code, retriable: error.retriable, message: error.message })
    })
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a-b-c|', { a: batch([message(1)]), b: batch([message(3), rejected(2)]), c: batch([message(4)]) })
      expectObservable(source.pipe(handleRowErrors('orders_sync', 'fail'), described)).toBe('a-(e|)', {
        a: batch([message(1)]),
        e: { code: 'ROW_INVALID_JSON', retriable: false, message: 'sync "orders_sync": row 2 of public.orders (changed, lsn 0/2): the template did not render valid JSON' },
      })
    })
  })
})

test('a dead letter carries json/jsonb values of the row as their exact text', () => {
  const doc = new JsonText('{"id": 12345678901234567890, "x": 1.10}')
  const change: ModelChange = { type: 'added', table: 'public.t', row: { id: 1, doc }, previous: null, key: '1', lsn: '0/1' }
  const resolve = rowErrorResolver('s', { deadLetter: { topic: 'dlq' } })
  const message = resolve({ change, reason: 'render', error: new RowcastError('ROW_RENDER_FAILED', 'boom') })
  assert.ok(message !== undefined)
  const value = message.value as string
  assert.ok(value.includes(`"row":{"id":1,"doc":${doc.text}},"previous":null,"failedAt":"`), value)
  const parsed = JSON.parse(value) as Record<string, unknown>
  assert.deepEqual(Object.keys(parsed), ['sync', 'table', 'type', 'key', 'lsn', 'reason', 'code', 'error', 'row', 'previous', 'failedAt'])
})
