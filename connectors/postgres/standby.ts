import type pg from 'pg'
import { emitHeartbeat } from './stream.ts'

/**
 * Decoding on a standby (PostgreSQL 16+): creating a slot there waits for a running-transactions record
 * from the primary, which an idle primary writes only every 15 s at best (and never with no WAL at all).
 * While the creation runs, the primary is nudged every second: pg_log_standby_snapshot() (superuser or
 * a grant of EXECUTE), else a heartbeat message, whose WAL makes the primary log that record soon.
 */
export async function whileNudgingPrimary<T>(primary: pg.ClientBase, work: Promise<T>, everyMs = 1_000): Promise<T> {
  let canLogSnapshot = true
  let running = false
  const nudge = async () => {
    if (running) return
    running = true
    try {
      if (canLogSnapshot) await primary.query('SELECT pg_log_standby_snapshot()').catch(() => void (canLogSnapshot = false))
      if (!canLogSnapshot) await emitHeartbeat(primary).catch(() => undefined)
    } finally {
      running = false
    }
  }
  void nudge()
  const timer = setInterval(() => void nudge(), everyMs)
  try {
    return await work
  } finally {
    clearInterval(timer)
  }
}
