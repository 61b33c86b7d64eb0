import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parserForColumn } from '../../../connectors/postgres/values.ts'
import { JsonText } from '../../../core/json-text.ts'

test('timestamptz text becomes ISO-8601 with its full precision, UTC as Z', () => {
  const parse = parserForColumn({ typeName: 'timestamptz' })
  const cases: [string, string][] = [
    ['2024-01-02 03:04:05.123456+00', '2024-01-02T03:04:05.123456Z'],
    ['2024-01-02 03:04:05+00', '2024-01-02T03:04:05Z'],
    ['2024-01-02 03:04:05.5+05:30', '2024-01-02T03:04:05.5+05:30'],
    ['2024-01-02 03:04:05-08', '2024-01-02T03:04:05-08:00'],
    ['1900-01-01 00:00:00+00:19:32', '1900-01-01T00:00:00+00:19:32'],
    ['12024-01-02 03:04:05+00', '12024-01-02T03:04:05Z'],
    ['0044-03-15 12:00:00+00 BC', '0044-03-15T12:00:00+00 BC'],
    ['infinity', 'infinity'],
    ['-infinity', '-infinity'],
  ]
  for (const [text, iso] of cases) assert.equal(parse(text), iso, text)
})

test('json and jsonb keep the server\'s text (JsonText), also as array elements', () => {
  for (const typeName of ['json', 'jsonb']) {
    const value = parserForColumn({ typeName })('{"id": 12345678901234567890, "x": 1.10}')
    assert.ok(value instanceof JsonText, typeName)
    assert.equal(value.text, '{"id": 12345678901234567890, "x": 1.10}')
  }
  const array = parserForColumn({ typeName: '_jsonb', elementTypeName: 'jsonb' })('{"{\\"a\\": 1.10}",NULL}') as unknown[]
  assert.ok(array[0] instanceof JsonText)
  assert.equal((array[0] as JsonText).text, '{"a": 1.10}')
  assert.equal(array[1], null)
})
