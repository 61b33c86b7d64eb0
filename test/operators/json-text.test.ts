import { test } from 'node:test'
import assert from 'node:assert/strict'
import { jsonInString, jsonNumericValue, jsonValue } from '../../operators/message/json-text.ts'
import { JsonText } from '../../core/json-text.ts'
import { HOSTILE_STRINGS } from './message-fixtures.ts'

const VALUES: unknown[] = [
  ...HOSTILE_STRINGS,
  ...Array.from({ length: 0x80 }, (_, i) => `c${String.fromCharCode(i)}c`),
  '\ud83c\udf89', '\udfff', '\u007f\u0080\u00ff',
  0, -0, 1, -1.5, 1e21, 5e-324, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY,
  true, false, null, { a: 'b"', n: [1, null, { c: '\n' }] }, [], ['\u2028'],
]

test('jsonValue is JSON.stringify (NULL and absent → null)', () => {
  for (const value of VALUES) assert.equal(jsonValue(value), JSON.stringify(value), String(value))
  assert.equal(jsonValue(undefined), 'null')
  assert.equal(jsonValue(12345678901234567890n), '12345678901234567890')
})

test('jsonInString is the escaped text without quotes, and always valid inside a string literal', () => {
  for (const value of VALUES) {
    const text = jsonInString(value)
    const expected = value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value)
    assert.equal(JSON.parse(`"${text}"`), expected)
  }
  assert.equal(jsonInString('a"b\\c\n'), 'a\\"b\\\\c\\n')
  assert.equal(jsonInString(undefined), '')
})

test('jsonNumericValue keeps number strings bare and quotes the rest', () => {
  for (const s of ['0', '-0', '12.50', '9007199254740993', '-1e-7', '1E+5']) assert.equal(jsonNumericValue(s), s)
  for (const s of ['NaN', 'Infinity', '-Infinity', '00', '1.', '.5', '+1', '0x10', ' 1', '1 ']) assert.equal(jsonNumericValue(s), JSON.stringify(s))
  assert.equal(jsonNumericValue(null), 'null')
  assert.equal(jsonNumericValue(3), '3')
})

test('json/jsonb values (JsonText) are spliced as the server sent them, in arrays too', () => {
  const doc = new JsonText('{"id": 12345678901234567890, "x": 1.10, "x": 2}')
  assert.equal(jsonValue(doc), doc.text)
  assert.equal(jsonValue([doc, null, new JsonText('1.10')]), `[${doc.text},null,1.10]`)
  assert.equal(jsonValue([[1, 'a'], []]), JSON.stringify([[1, 'a'], []]))
  assert.equal(jsonInString(doc), JSON.stringify(doc.text).slice(1, -1), 'inside a string: the text, escaped')
  assert.equal(jsonInString(new JsonText('"say \\"hi\\""')), 'say \\"hi\\"', 'a JSON string: its content, escaped')
  assert.equal(jsonInString([doc]), JSON.stringify(`[${doc.text}]`).slice(1, -1))
})
