import { test } from 'node:test'
import assert from 'node:assert/strict'
import { JsonText, jsonPlainText } from '../../core/json-text.ts'

test('JsonText keeps the text; value parses it on first read only', () => {
  const json = new JsonText('{"id": 12345678901234567890, "x": 1.10}')
  assert.equal(json.text, '{"id": 12345678901234567890, "x": 1.10}')
  assert.equal(String(json), json.text)
  const value = json.value as { x: number }
  assert.equal(value.x, 1.1)
  assert.equal(json.value, value, 'parsed once, the same object after')
  assert.equal(json.toLiquid(), value, 'templates read into the parsed value')
  assert.equal(JSON.stringify({ doc: json }), '{"doc":{"id":12345678901234567000,"x":1.1}}', 'generic JSON.stringify parses (messages never take this path)')
})

test('JsonText does not parse until asked: a value that is not JSON fails only on reading into it', () => {
  const json = new JsonText('{not json')
  assert.equal(json.text, '{not json')
  assert.throws(() => json.value, SyntaxError)
})

test('jsonPlainText: a JSON string gives its content, any other value its text', () => {
  assert.equal(jsonPlainText(new JsonText('"a \\"b\\" \\u00e9"')), 'a "b" é')
  assert.equal(jsonPlainText(new JsonText('  "padded"')), 'padded')
  assert.equal(jsonPlainText(new JsonText('{"a": 1.10}')), '{"a": 1.10}')
  assert.equal(jsonPlainText(new JsonText('12345678901234567890')), '12345678901234567890')
  assert.equal(jsonPlainText(new JsonText('null')), 'null')
})
