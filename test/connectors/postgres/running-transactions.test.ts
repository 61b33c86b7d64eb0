import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import type { StackEnv } from '../../../scripts/stack-env.ts'
import { describeRunning, waitForRunningTransactions, type RunningTransaction } from '../../../connectors/postgres/publication.ts'
import { eventually, stack } from '../../support/harness.ts'

/**
 * A sync joining a stream group waits for the transactions running when its table joined the publication (real
 * PostgreSQL): a session left idle in a transaction holds it for as long as it stays open, so the wait says, again
 * and again, which session that is.
 */
let env: StackEnv
const clients: pg.Client[] = []
before(async () => {
  env = await stack()
})
after(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)))
})

async function connect(application: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL, application_name: application })
  await client.connect()
  clients.push(client)
  return client
}

test('the wait names the idle session that holds it, every tellEveryMs, and ends when that transaction does (the newest xid, at or above the snapshot\'s xmax, included)', { timeout: 60_000 }, async () => {
  const idle = await connect('rowcast-test-idle')
  const control = await connect('rowcast-test-control')
  await idle.query('BEGIN')
  const xid = (await idle.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows[0].xid
  const pid = (await idle.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid
  const heard: { running: RunningTransaction[]; waitedMs: number; first: boolean }[] = []
  let ended = false
  let failure: unknown = null
  const waiting = waitForRunningTransactions(control, (running, waitedMs, first) => heard.push({ running, waitedMs, first }), 50, 300).then(
    () => void (ended = true),
    (error: unknown) => void (failure = error),
  )
  try {
    await eventually(async () => (failure === null ? heard.length : -1), (n) => n >= 3 || n < 0, 20_000, 'told three times')
    assert.equal(failure, null)
    assert.equal(ended, false, 'still waiting while the transaction is open')
    assert.deepEqual(heard.map((h) => h.first), [true, ...heard.slice(1).map(() => false)])
    for (const { running } of heard) {
      const held = running.find((t) => t.xid === xid)
      assert.ok(held !== undefined, `the open transaction is among those waited for: ${JSON.stringify(running)}`)
      assert.equal(held.pid, pid)
      assert.equal(held.application, 'rowcast-test-idle')
      assert.equal(held.state, 'idle in transaction')
      assert.ok(held.since instanceof Date)
      assert.match(describeRunning(held), new RegExp(`^pid ${pid} \\(rowcast-test-idle, idle in transaction since \\d{4}-\\d\\d-\\d\\dT`))
    }
    assert.ok(heard[2].waitedMs >= 500, `told again only after tellEveryMs: ${heard.map((h) => h.waitedMs).join(', ')}`)
  } finally {
    await idle.query('COMMIT')
  }
  await eventually(async () => ended, (e) => e, 20_000, 'the wait ended once the transaction did')
  await waiting
  assert.equal(failure, null)
})

test('a stop ends the wait (the signal aborts): it throws, so nothing is recorded as if it had waited', { timeout: 30_000 }, async () => {
  const idle = await connect('rowcast-test-idle-stop')
  const control = await connect('rowcast-test-control-stop')
  await idle.query('BEGIN')
  await idle.query('SELECT pg_current_xact_id()')
  const stop = new AbortController()
  let heard = 0
  const waiting = waitForRunningTransactions(control, () => void heard++, 50, 300, stop.signal).then(() => 'ended', (error: unknown) => error)
  try {
    await eventually(() => heard, (n) => n >= 1, 10_000, 'waiting')
    stop.abort()
    const outcome = await Promise.race([waiting, new Promise((r) => setTimeout(() => r('still waiting 5 s after the stop'), 5_000))])
    assert.ok(outcome instanceof Error && outcome.name === 'AbortError', `the wait ended with: ${String(outcome)}`)
  } finally {
    await idle.query('COMMIT')
  }
})

test('a transaction without a visible session is named by its xid; a prepared one says so', () => {
  assert.equal(describeRunning({ xid: '42', pid: null, application: null, state: null, since: null }), 'xid 42')
  assert.equal(describeRunning({ xid: '42', pid: null, application: null, state: 'prepared', since: new Date(0) }), 'xid 42 (prepared since 1970-01-01T00:00:00.000Z)')
})
