import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseHostList } from '../../../connectors/postgres/hosts.ts'
import { switchPoint } from '../../../connectors/postgres/timeline.ts'
import { postgresUrlProblem } from '../../../connectors/postgres/url.ts'

test('a libpq host list becomes one URL per host, in order, without target_session_attrs', () => {
  assert.deepEqual(parseHostList('postgresql://u:p@h1:5432,h2:5433/db?target_session_attrs=read-write&sslmode=disable'), {
    urls: ['postgresql://u:p@h1:5432/db?sslmode=disable', 'postgresql://u:p@h2:5433/db?sslmode=disable'],
    target: 'read-write',
  })
  assert.deepEqual(parseHostList('postgres://u:p@h1:1/db?sslmode=disable&target_session_attrs=primary'), { urls: ['postgres://u:p@h1:1/db?sslmode=disable'], target: 'primary' })
  assert.deepEqual(parseHostList('postgres://u:p@h1:1/db'), { urls: ['postgres://u:p@h1:1/db'], target: 'any' })
  assert.equal(parseHostList('/var/run/postgresql'), undefined)
})

test('config checks every host of a list, and the target', () => {
  assert.equal(postgresUrlProblem('postgresql://u:p@127.0.0.1:5432,127.0.0.1:5433/db?target_session_attrs=read-write'), undefined)
  assert.match(postgresUrlProblem('postgresql://u:p@h1:1,h2:2/db?target_session_attrs=writable') ?? '', /target_session_attrs=writable is not one of/)
  assert.match(postgresUrlProblem('postgresql://u:p@h1:1,h2:x/db') ?? '', /not a valid URL/)
})

test('the switch point of a timeline in a history file', () => {
  const history = '1\t0/3000060\tno recovery target specified\n\n2\t0/5A0001C8\tno recovery target specified\n'
  assert.equal(switchPoint(history, 1), 0x3000060n)
  assert.equal(switchPoint(history, 2), 0x5a0001c8n)
  assert.equal(switchPoint(history, 3), null)
})
