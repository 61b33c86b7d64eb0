import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PINNED_OPTIONS, sessionConfig } from '../../../connectors/postgres/session.ts'

test('every setting the value parsers rely on is pinned in the startup options', () => {
  for (const setting of ['TimeZone=UTC', 'DateStyle=ISO', 'IntervalStyle=postgres', 'bytea_output=hex', 'extra_float_digits=3']) {
    assert.ok(PINNED_OPTIONS.split(' ').includes(setting), setting)
  }
  const url = 'postgres://u:p@h:5432/db'
  const keepAlive = { keepAlive: true, keepAliveInitialDelayMillis: 10_000 }
  assert.deepEqual(sessionConfig(url), { ...keepAlive, connectionString: url, options: PINNED_OPTIONS })
  assert.deepEqual(sessionConfig(url, { replication: 'database' } as never), { ...keepAlive, replication: 'database', connectionString: url, options: PINNED_OPTIONS })
})

test('options in the URL (which pg prefers to the config\'s) keep theirs, with ours after so ours win', () => {
  const config = sessionConfig('postgres://u:p@h:5432/db?options=-c%20search_path%3Dapp')
  assert.equal(config.options, `-c search_path=app ${PINNED_OPTIONS}`)
  assert.equal(new URL(config.connectionString).searchParams.get('options'), `-c search_path=app ${PINNED_OPTIONS}`)
  assert.equal(new URL(config.connectionString).password, 'p')
})

test('every connection has TCP keepalive, so a vanished peer (lock holder, replication link) is noticed in minutes, not hours', () => {
  const config = sessionConfig('postgres://u:p@h:5432/db', { replication: 'database' } as never) as { keepAlive?: boolean; keepAliveInitialDelayMillis?: number }
  assert.equal(config.keepAlive, true)
  assert.ok((config.keepAliveInitialDelayMillis ?? Infinity) <= 10_000)
})

test('a caller\'s settings (the replication session\'s wal_sender_timeout) follow the pinned ones, also after URL options', () => {
  const url = 'postgres://u:p@h:5432/db'
  assert.equal(sessionConfig(url, undefined, { wal_sender_timeout: '5000' }).options, `${PINNED_OPTIONS} -c wal_sender_timeout=5000`)
  const withOptions = sessionConfig(`${url}?options=-c%20search_path%3Dx`, undefined, { wal_sender_timeout: '5000' })
  assert.equal(withOptions.options, `-c search_path=x ${PINNED_OPTIONS} -c wal_sender_timeout=5000`)
  assert.equal(sessionConfig(url).options, PINNED_OPTIONS)
})
