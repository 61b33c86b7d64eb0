import pg from 'pg'
import { parseLsn, type Lsn } from '../../core/lsn.ts'
import { sessionConfig } from './session.ts'

/**
 * Where an earlier timeline ended in the server's history. A promoted standby (or a point-in-time restore)
 * starts a new timeline; its history file lists, for every timeline before it, the LSN where the new
 * history branched off ("parentTLI <tab> switchpoint <tab> reason" per line). WAL below that point is shared
 * with the old timeline; above it, the two histories differ.
 */

/** The switch point of `timeline` in a history file's text, or null when that timeline is not an ancestor. */
export function switchPoint(history: string, timeline: number): Lsn | null {
  for (const line of history.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields.length >= 2 && /^\d+$/.test(fields[0]) && Number(fields[0]) === timeline && /^[0-9A-F]+\/[0-9A-F]+$/i.test(fields[1])) return parseLsn(fields[1])
  }
  return null
}

/**
 * The switch point of `recorded` in the history of the server's `current` timeline (TIMELINE_HISTORY on a
 * replication connection: needs the REPLICATION role attribute rowcast has anyway, not superuser).
 * null: `recorded` is not an ancestor of `current` (another branch, or a later timeline than the server's).
 */
export async function readSwitchPoint(url: string, recorded: number, current: number): Promise<Lsn | null> {
  if (recorded >= current) return null
  const connection = new pg.Client(sessionConfig(url, { replication: 'database' } as pg.ClientConfig))
  await connection.connect()
  try {
    const result = await connection.query<{ content: string | Buffer }>(`TIMELINE_HISTORY ${current}`)
    const content = result.rows[0]?.content
    return switchPoint(Buffer.isBuffer(content) ? content.toString('utf8') : String(content ?? ''), recorded)
  } finally {
    await connection.end().catch(() => undefined)
  }
}
