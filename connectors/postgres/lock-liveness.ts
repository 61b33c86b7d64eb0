/**
 * Liveness of the session that holds a sync's advisory lock. A process that is alive but frozen (SIGSTOP, a
 * hung host) keeps its TCP connections open and its kernel answers keepalives, so PostgreSQL would keep the
 * session, and the lock, forever. With idle_session_timeout (PG 14+) on that session the server ends it once
 * the client stays silent for `timeoutMs`; a running daemon pings every third of that, so only a frozen one
 * loses it. idle_in_transaction_session_timeout covers a freeze inside one of the session's short transactions.
 */
import type pg from 'pg'
import type { Logger } from '../../core/logger.ts'

const IDLE_SESSION_TIMEOUT_SINCE = 140_000

/** Sets the session timeouts on `client` and pings it; returns the stop of the pings. */
export async function keepLockSessionLive(client: pg.Client, timeoutMs: number, logger: Logger): Promise<() => void> {
  const { rows } = await client.query<{ version: number }>("SELECT current_setting('server_version_num')::int AS version")
  if ((rows[0]?.version ?? 0) < IDLE_SESSION_TIMEOUT_SINCE) {
    logger.warn('PostgreSQL before 14 has no idle_session_timeout: a frozen daemon keeps this sync\'s lock until its connection dies')
    return () => undefined
  }
  await client.query(`SET idle_session_timeout = ${Math.trunc(timeoutMs)}`)
  await client.query(`SET idle_in_transaction_session_timeout = ${Math.trunc(timeoutMs)}`)
  let pinging = false
  const timer = setInterval(() => {
    if (pinging) return // a query still runs on the session: it is not idle
    pinging = true
    client.query('SELECT 1').then(() => (pinging = false), () => (pinging = false))
  }, Math.max(1, Math.floor(timeoutMs / 3)))
  timer.unref()
  return () => clearInterval(timer)
}
