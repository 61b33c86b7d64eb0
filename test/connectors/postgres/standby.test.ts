import assert from 'node:assert/strict'
import { test } from 'node:test'
import type pg from 'pg'
import { whileNudgingPrimary } from '../../../connectors/postgres/standby.ts'

/** A primary that records the statements it gets; `denySnapshot`: pg_log_standby_snapshot() is not granted. */
function fakePrimary(denySnapshot: boolean): { client: pg.ClientBase; statements: string[] } {
  const statements: string[] = []
  const client = {
    query(text: string) {
      statements.push(text)
      if (denySnapshot && text.includes('pg_log_standby_snapshot')) return Promise.reject(new Error('permission denied for function pg_log_standby_snapshot'))
      return Promise.resolve({ rows: [] })
    },
  } as unknown as pg.ClientBase
  return { client, statements }
}

const after = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('while a slot is created on a standby, the primary logs a standby snapshot at once and then every interval; it stops after', async () => {
  const { client, statements } = fakePrimary(false)
  assert.equal(await whileNudgingPrimary(client, after(120).then(() => 'created'), 50), 'created')
  const count = statements.length
  assert.ok(count >= 2, `nudged ${count} times`)
  assert.ok(statements.every((s) => s.includes('pg_log_standby_snapshot')))
  await after(120)
  assert.equal(statements.length, count, 'no nudge after the creation ended')
})

test('without the right to pg_log_standby_snapshot, a heartbeat message (WAL) nudges the primary instead', async () => {
  const { client, statements } = fakePrimary(true)
  await whileNudgingPrimary(client, after(120), 50)
  assert.match(statements[0], /pg_log_standby_snapshot/)
  assert.ok(statements.slice(1).some((s) => s.includes('pg_logical_emit_message')), statements.join('; '))
  assert.equal(statements.filter((s) => s.includes('pg_log_standby_snapshot')).length, 1, 'asked once, then heartbeats only')
})

test('a failed creation is passed on, and the nudging stops', async () => {
  const { client, statements } = fakePrimary(false)
  await assert.rejects(whileNudgingPrimary(client, after(60).then(() => Promise.reject(new Error('slot exists'))), 20), /slot exists/)
  const count = statements.length
  await after(80)
  assert.equal(statements.length, count)
})
