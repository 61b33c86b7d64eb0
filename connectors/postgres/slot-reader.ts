import pg from 'pg'
import type { SlotReader, SlotReading } from '../../core/contracts.ts'
import { parseLsn } from '../../core/lsn.ts'
import { resolveHost } from './hosts.ts'
import { sessionConfig } from './session.ts'

/**
 * One query per slot: the server's position, the slot's positions and WAL reservation, and its decoding
 * statistics (pg_stat_replication_slots, PostgreSQL 14+). `pg_current_wal_lsn()` is the server's own view, so
 * the lag it gives grows while the sync is stuck, paused or failing, unlike figures from the replication stream.
 */
const SLOT_QUERY = `
SELECT pg_current_wal_lsn()::text AS server, s.confirmed_flush_lsn::text AS confirmed, s.restart_lsn::text AS restart,
       s.wal_status, s.safe_wal_size::text AS safe_wal_size,
       st.spill_txns::text, st.spill_bytes::text, st.stream_txns::text, st.stream_bytes::text, st.total_txns::text, st.total_bytes::text
  FROM pg_replication_slots s LEFT JOIN pg_stat_replication_slots st ON st.slot_name = s.slot_name
 WHERE s.slot_name = $1`
const SLOT_QUERY_BEFORE_14 = `
SELECT pg_current_wal_lsn()::text AS server, s.confirmed_flush_lsn::text AS confirmed, s.restart_lsn::text AS restart,
       s.wal_status, s.safe_wal_size::text AS safe_wal_size
  FROM pg_replication_slots s WHERE s.slot_name = $1`

interface Row {
  server: string
  confirmed: string | null
  restart: string | null
  wal_status: string | null
  safe_wal_size: string | null
  spill_txns?: string | null
  spill_bytes?: string | null
  stream_txns?: string | null
  stream_bytes?: string | null
  total_txns?: string | null
  total_bytes?: string | null
}

/** A SlotReader on one ordinary connection, opened on first use and again after it is lost. */
export function createSlotReader(url: string): SlotReader {
  let client: pg.Client | null = null
  let connecting: Promise<pg.Client> | null = null
  let query = SLOT_QUERY

  async function connected(): Promise<pg.Client> {
    if (client !== null) return client
    connecting ??= (async () => {
      // Bounded waits: a server that stops answering must not hold the monitor (or the daemon's stop) forever.
      const c = new pg.Client(sessionConfig(await resolveHost(url), { connectionTimeoutMillis: 10_000, query_timeout: 10_000, application_name: 'rowcast slot monitor' }))
      c.on('error', () => undefined) // a lost connection fails the next query, which drops it
      try {
        await c.connect()
        const version = Number((await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0].v)
        query = version >= 140_000 ? SLOT_QUERY : SLOT_QUERY_BEFORE_14
      } catch (error) {
        await c.end().catch(() => undefined)
        throw error
      }
      client = c
      return c
    })().finally(() => (connecting = null))
    return connecting
  }

  return {
    async read(slot, sync) {
      const c = await connected()
      try {
        const row = (await c.query<Row>(query, [slot])).rows[0]
        if (row === undefined) return null
        const reading = readingOf(row)
        if (sync === undefined) return reading
        const cursor = (await c.query<{ cursor: string | null }>('SELECT confirmed_lsn::text AS cursor FROM _rowcast.sync_state WHERE sync = $1 AND slot = $2', [sync, slot])).rows[0]?.cursor
        return cursor === null || cursor === undefined ? reading : asSyncOfGroup(reading, parseLsn(cursor))
      } catch (error) {
        client = null
        await c.end().catch(() => undefined)
        throw error
      }
    },
    async close() {
      const c = client ?? (await connecting?.catch(() => null)) ?? null
      client = null
      await c?.end().catch(() => undefined)
    },
  }
}

function readingOf(row: Row): SlotReading {
  const n = (text: string | null | undefined) => (text === null || text === undefined ? 0 : Number(text))
  return {
    serverLsn: parseLsn(row.server),
    confirmedLsn: row.confirmed === null ? 0n : parseLsn(row.confirmed),
    restartLsn: row.restart === null ? null : parseLsn(row.restart),
    walStatus: row.wal_status,
    safeWalBytes: row.safe_wal_size === null ? null : Number(row.safe_wal_size),
    stats: row.total_txns === undefined || row.total_txns === null
      ? null
      : { spillTxns: n(row.spill_txns), spillBytes: n(row.spill_bytes), streamTxns: n(row.stream_txns), streamBytes: n(row.stream_bytes), totalTxns: n(row.total_txns), totalBytes: n(row.total_bytes) },
  }
}

/**
 * A stream group's slot as one of its syncs stands: lag from the sync's own cursor; the WAL retained for it is
 * the slot's whole retention when its cursor is the one holding the slot (a parked sync, say), else what lies
 * past its cursor. So the metric, `rowcast status` and the alert name the sync that keeps PostgreSQL's WAL.
 */
export function asSyncOfGroup(reading: SlotReading, cursor: bigint): SlotReading {
  const holds = cursor <= reading.confirmedLsn
  return { ...reading, confirmedLsn: cursor, restartLsn: holds ? reading.restartLsn : cursor }
}
