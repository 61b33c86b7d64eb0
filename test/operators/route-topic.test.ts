import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { routeTopic, staticTopics, topicConfigSchema, type ComposedMessage, type RoutedMessage } from '../../operators/route-topic.ts'
import type { ModelChange, RejectedChange } from '../../core/changes.ts'
import { RowcastError } from '../../core/errors.ts'
import type { ChangeType } from '../../core/changes.ts'
import { batch, marbles } from './marbles.ts'

const change = (type: ChangeType, row: Record<string, unknown>): ModelChange => ({ type, table: 'public.t', row, previous: null, key: String(row.id), lsn: '0/1' })
const composed = (c: ModelChange): ComposedMessage => ({ change: c, value: '{}' })
const routed = (c: ModelChange, topic: string): RoutedMessage => ({ change: c, value: '{}', topic })

describe('routeTopic', () => {
  const added = change('added', { id: 1, dest: 'orders' })
  const changed = change('changed', { id: 2, dest: 'refunds' })
  const removed = change('removed', { id: 3, dest: null })

  test('a fixed topic', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch([composed(added), composed(changed)]) })
      expectObservable(source.pipe(routeTopic(topicConfigSchema.parse('users')))).toBe('a|', { a: batch([routed(added, 'users'), routed(changed, 'users')]) })
    })
  })

  test('one topic per trigger; a trigger without a topic is a row error', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a|', { a: batch([composed(added), composed(changed), composed(removed)]) })
      const result = source.pipe(routeTopic(topicConfigSchema.parse({ added: 'ins', changed: 'upd' })))
      expectObservable(result).toBe('a|', {
        a: batch<RoutedMessage | RejectedChange>([routed(added, 'ins'), routed(changed, 'upd'), { change: removed, reason: 'topic', error: new RowcastError('ROW_TOPIC_MISSING', 'no topic is configured for removed rows') }]),
      })
    })
  })

  test('the topic read from a column; NULL, empty or not a valid topic name is a row error; rejected items pass through untouched', () => {
    const earlier: RejectedChange = { change: added, reason: 'render', error: new Error('boom') }
    const empty = change('added', { id: 4, dest: '' })
    const invalid = change('added', { id: 5, dest: 'no spaces/or slashes' })
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('a-b|', { a: batch([composed(added), composed(changed), earlier]), b: batch([composed(removed), composed(empty), composed(invalid)], 200n) })
      const result = source.pipe(routeTopic(topicConfigSchema.parse({ column: 'dest' })))
      const missing = new RowcastError('ROW_TOPIC_MISSING', 'topic column "dest" is NULL or empty')
      expectObservable(result).toBe('a-b|', {
        a: batch<RoutedMessage | RejectedChange>([routed(added, 'orders'), routed(changed, 'refunds'), earlier]),
        b: batch<RoutedMessage | RejectedChange>([{ change: removed, reason: 'topic', error: missing }, { change: empty, reason: 'topic', error: missing }, { change: invalid, reason: 'topic', error: new RowcastError('ROW_TOPIC_INVALID', 'topic column "dest" holds "no spaces/or slashes", which is not a valid Kafka topic name') }], 200n),
      })
    })
  })

  test('staticTopics names the topics to check up front', () => {
    assert.deepEqual(staticTopics('users'), ['users'])
    assert.deepEqual(staticTopics({ added: 'a', changed: 'b', removed: 'a' }), ['a', 'b'])
    assert.deepEqual(staticTopics({ column: 'dest' }), [])
  })

  test('the schema refuses invalid topic names and unknown keys', () => {
    assert.equal(topicConfigSchema.safeParse('has space').success, false)
    assert.equal(topicConfigSchema.safeParse({ added: 'a', upserted: 'b' }).success, false)
    assert.equal(topicConfigSchema.safeParse({ column: 'dest', added: 'a' }).success, false)
  })
})
