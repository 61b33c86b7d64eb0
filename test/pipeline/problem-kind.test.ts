import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RowcastError } from '../../core/errors.ts'
import { problemKindOf } from '../../pipeline/problem-kind.ts'

test('problemKindOf: the alert kind of a failure, by its code', () => {
  const kind = (code: ConstructorParameters<typeof RowcastError>[0]) => problemKindOf(new RowcastError(code, 'x'))
  assert.equal(kind('PG_CONNECTION_LOST'), 'postgres-unreachable')
  assert.equal(kind('PG_UNREACHABLE'), 'postgres-unreachable')
  assert.equal(kind('PG_SLOT_LOST'), 'slot-lost')
  assert.equal(kind('PG_SLOT_ACTIVE'), undefined)
  assert.equal(kind('KAFKA_UNREACHABLE'), 'kafka-unreachable')
  assert.equal(kind('KAFKA_TOPIC_MISSING'), 'topic-missing')
  assert.equal(kind('REGISTRY_UNAVAILABLE'), 'registry-unreachable')
  assert.equal(kind('REGISTRY_UNAUTHORIZED'), 'fatal')
  assert.equal(kind('ROW_PARTITION_MISSING'), 'fatal')
  assert.equal(problemKindOf(new Error('bug')), 'fatal')
})
