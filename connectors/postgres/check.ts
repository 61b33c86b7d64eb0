import pg from 'pg'
import type { CheckResult } from '../../core/check-result.ts'
import { ConfigError, errorMessage } from '../../core/errors.ts'
import { redactSecrets } from '../../core/secrets.ts'
import { resolveHost } from './hosts.ts'
import { sessionConfig } from './session.ts'

/** One table to check on the open connection; the caller says what fits (for `rowcast check`: the sync resolved against it). */
export interface TableCheck {
  /** Names the result line, e.g. `postgres: sync users (public.users)`. */
  name: string
  /** Throws when the table does not fit (a ConfigError lists every problem); else says what was found, and what works but could be better. */
  check(client: pg.ClientBase): Promise<{ detail: string; warnings: readonly string[] }>
}

/**
 * The PostgreSQL half of `rowcast check`: reachable, wal_level=logical, the user may replicate, and each
 * table check (a sync's table, columns and replica identity against its triggers and filter).
 */
export async function checkPostgres(url: string, tables: readonly TableCheck[]): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  let client: pg.Client
  try {
    // A multi-host URL: the host `run` would stream from (hosts.ts), found the same way.
    client = new pg.Client(sessionConfig(await resolveHost(url), { connectionTimeoutMillis: 10_000 }))
    await client.connect()
  } catch (error) {
    results.push({ name: 'postgres: reachable', ok: false, detail: redactSecrets(errorMessage(error)), fix: 'check source.postgres.url (host, port, database, user, password) and that PostgreSQL accepts connections from here', ...(isUnreachable(error) ? { unreachable: true } : {}) })
    return results
  }
  try {
    const version = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v
    results.push({ name: 'postgres: reachable', ok: true, detail: `PostgreSQL ${version}` })
    const wal = (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0].wal_level
    results.push(wal === 'logical'
      ? { name: 'postgres: wal_level', ok: true, detail: 'logical' }
      : { name: 'postgres: wal_level', ok: false, detail: `wal_level is ${wal}, logical replication needs logical`, fix: "ALTER SYSTEM SET wal_level = 'logical'; then restart PostgreSQL" })
    const role = (await client.query<{ rolreplication: boolean; rolsuper: boolean; rolname: string }>('SELECT rolname, rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0]
    results.push(role.rolreplication || role.rolsuper
      ? { name: 'postgres: replication privilege', ok: true, detail: `role ${role.rolname} may replicate` }
      : { name: 'postgres: replication privilege', ok: false, detail: `role ${role.rolname} has no REPLICATION attribute`, fix: `ALTER ROLE ${role.rolname} WITH REPLICATION` })
    for (const { name, check } of tables) {
      try {
        const found = await check(client)
        results.push({ name, ok: true, detail: found.detail })
        for (const warning of found.warnings) results.push({ name, ok: true, detail: `warning: ${warning}` })
      } catch (error) {
        const detail = error instanceof ConfigError ? error.issues.map((i) => `${i.path}: ${i.message}`).join('; ') : errorMessage(error)
        results.push({ name, ok: false, detail: redactSecrets(detail), fix: 'fix the sync in the config file or the table (see the message)' })
      }
    }
  } finally {
    await client.end()
  }
  return results
}

export type PostgresClient = pg.Client

/** A connected client for one-off work (the CLI's validate, setup, resync), on the host `run` would use (hosts.ts); the caller ends it. */
export async function connectPostgres(url: string, connectionTimeoutMillis?: number): Promise<PostgresClient> {
  const client = new pg.Client(sessionConfig(await resolveHost(url), connectionTimeoutMillis === undefined ? {} : { connectionTimeoutMillis }))
  await client.connect()
  return client
}

/** A connection that failed for the network or a server not up yet, not for credentials or a wrong database. */
function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string') return NETWORK_CODES.has(code) || code === '57P03' /* cannot_connect_now: starting up */
  return /timeout|terminated|ECONNREFUSED|closed/i.test(errorMessage(error))
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'])
