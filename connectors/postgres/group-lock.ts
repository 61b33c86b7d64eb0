import pg from 'pg'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { formatLsn, type Lsn } from '../../core/lsn.ts'
import { TRY_GROUP_LOCK_SQL } from './advisory-locks.ts'
import { keepLockSessionLive } from './lock-liveness.ts'
import { ensureGroupPublication } from './publication.ts'
import { sessionConfig } from './session.ts'
import { createSlot, readSlot, serverMajor } from './slots.ts'
import { emitHeartbeat } from './stream.ts'
import { ensureStateTable } from './sync-state.ts'

export interface GroupLockOptions {
  url: string
  slot: string
  heartbeatIntervalMs: number
  takeoverTimeoutMs?: number
  failoverSlots?: boolean
  logger: Logger
}

/** The session of a stream group that holds its lock: its connection, the slot's position when taken, what to stop on release. */
export interface GroupSession {
  control: pg.Client
  slotStart: Lsn
  releases: (() => void)[]
}

const LOCK_POLL_MS = 2_000

/**
 * Takes a stream group's advisory lock on a connection of its own (waiting while another daemon holds it; null
 * when `signal` aborts meanwhile), then sets up what the group streams from: the state table, the group's
 * publication (before the slot), the slot (created when missing, refused when invalidated), and the heartbeats.
 * `lost` hears that the connection failed or ended: from then on the lock may be another daemon's.
 */
export async function lockGroup(options: GroupLockOptions, signal: AbortSignal, lost: (control: pg.Client, why: string) => void): Promise<GroupSession | null> {
  const { url, slot, logger, takeoverTimeoutMs } = options
  const control = new pg.Client(sessionConfig(url))
  try {
    await control.connect()
  } catch (error) {
    throw new RowcastError('PG_UNREACHABLE', `cannot connect to PostgreSQL: ${errorMessage(error)}`, { cause: error })
  }
  control.on('error', () => lost(control, 'failed'))
  control.on('end', () => lost(control, 'ended'))
  try {
    let waiting = false
    while (!(await control.query<{ locked: boolean }>(TRY_GROUP_LOCK_SQL, [slot])).rows[0].locked) {
      if (!waiting) logger.info({ group: slot }, 'another rowcast streams this stream group; waiting to take over')
      waiting = true
      if (signal.aborted) {
        await control.end().catch(() => undefined)
        return null
      }
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS))
    }
    const releases: (() => void)[] = []
    if ((takeoverTimeoutMs ?? 0) > 0) releases.push(await keepLockSessionLive(control, takeoverTimeoutMs!, logger))
    await ensureStateTable(control)
    await ensureGroupPublication(control, slot) // before the slot: every position the stream reads from knows it
    let state = await readSlot(control, slot)
    if (state === null) {
      const failover = options.failoverSlots === true && (await serverMajor(control)) >= 17
      const at = await createSlot(control, slot, { failover })
      logger.info({ group: slot, lsn: formatLsn(at), failover }, 'created the stream group\'s replication slot')
      state = { confirmedFlush: at, activePid: null }
    } else if (state.walStatus === 'lost') {
      throw new RowcastError('PG_SLOT_LOST', `replication slot "${slot}" of the stream group was invalidated: PostgreSQL removed WAL it still needed (max_slot_wal_keep_size). Drop it (SELECT pg_drop_replication_slot('${slot}')): the next start creates it anew, and each sync whose position lies before it stops with PG_SLOT_LOST naming its gap and its \`rowcast resync\` choices`)
    }
    const heartbeat = setInterval(() => {
      emitHeartbeat(control).catch((error: unknown) => logger.warn({ error: errorMessage(error) }, 'heartbeat failed'))
    }, options.heartbeatIntervalMs)
    heartbeat.unref()
    releases.push(() => clearInterval(heartbeat))
    return { control, slotStart: state.confirmedFlush, releases }
  } catch (error) {
    await control.end().catch(() => undefined)
    throw error
  }
}
