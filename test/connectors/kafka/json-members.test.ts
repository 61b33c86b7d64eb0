import assert from 'node:assert/strict'
import { test } from 'node:test'
import { objectMembers } from '../../../connectors/kafka/schema-registry/json-members.ts'

test('objectMembers: each top-level value as its own text (numbers unrounded, nesting, strings with brackets and escapes)', () => {
  assert.deepEqual(objectMembers('{"id":1,"doc":{"id": 12345678901234567890, "x": 1.10},"s":"a,}]\\"{","n":null,"arr":[1,[2,{"a":"]"}]]}'), [
    ['id', '1'], ['doc', '{"id": 12345678901234567890, "x": 1.10}'], ['s', '"a,}]\\"{"'], ['n', 'null'], ['arr', '[1,[2,{"a":"]"}]]'],
  ])
  assert.deepEqual(objectMembers(' { "k\\u0041" : 1.10 , "e" : { } } '), [['kA', '1.10'], ['e', '{ }']])
  assert.deepEqual(objectMembers('{}'), [])
  assert.equal(objectMembers('[1]'), undefined)
  assert.equal(objectMembers('{"a":1} trailing'), undefined)
})
