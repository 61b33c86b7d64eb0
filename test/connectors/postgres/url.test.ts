import { test } from 'node:test'
import assert from 'node:assert/strict'
import { postgresUrlProblem } from '../../../connectors/postgres/url.ts'

test('URLs pg accepts pass, as leniently as pg parses them', () => {
  for (const url of [
    'postgres://u:p@h:5432/db',
    'postgresql://u@h/db?sslmode=require',
    'postgres://u:50%off@h/db', // pg encodes a stray % itself
    'postgres://u:p@/db?host=/var/run/postgresql',
    'socket:/var/run/postgresql?db=app',
    '/var/run/postgresql app',
  ]) assert.equal(postgresUrlProblem(url), undefined, url)
})

test('a malformed URL says what is wrong, never repeating the URL', () => {
  for (const url of ['postgres://u:secret@h:port/db', 'postgres://u:se/cret@h/db', 'not a url at all', 'mysql://u:secret@h/db']) {
    const problem = postgresUrlProblem(url)
    assert.ok(problem !== undefined, url)
    assert.doesNotMatch(problem, /secret/, url)
  }
})
