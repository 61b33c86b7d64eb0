import pg from 'pg'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import { sessionConfig } from './session.ts'

/**
 * libpq's multi-host URLs, which pg does not parse: `postgresql://u:p@h1:5432,h2:5432/db?target_session_attrs=read-write`.
 * rowcast tries the hosts in order at every connect (so after a failover the next attempt finds the promoted
 * standby) and keeps the first that matches target_session_attrs: read-write / primary (not in recovery),
 * standby / read-only (in recovery), any (the first that answers; the default, as in libpq).
 */

export type TargetSessionAttrs = 'any' | 'read-write' | 'primary' | 'read-only' | 'standby'
const TARGETS = new Set<string>(['any', 'read-write', 'primary', 'read-only', 'standby'])

export interface HostList {
  /** One single-host URL per host, in the order given, without target_session_attrs. */
  urls: string[]
  target: TargetSessionAttrs
}

const URL_PARTS = /^(postgres(?:ql)?:\/\/)([^@/?#]*@)?([^/?#]*)(.*)$/

/** The hosts of `url`; a single-host URL gives one. Undefined when the URL is not of the postgres:// form. */
export function parseHostList(url: string): HostList | undefined {
  const parts = URL_PARTS.exec(url)
  if (parts === null) return undefined
  const [, scheme, auth = '', hosts, rest] = parts
  let target: TargetSessionAttrs = 'any'
  const tail = rest.replace(/([?&])target_session_attrs=([^&#]*)&?/, (_, sep: string, value: string) => {
    if (TARGETS.has(value)) target = value as TargetSessionAttrs
    else throw new RowcastError('CONFIG_INVALID', `target_session_attrs=${value} is not one of ${[...TARGETS].join(', ')}`)
    return sep
  }).replace(/[?&]$/, '')
  return { urls: hosts.split(',').map((host) => `${scheme}${auth}${host}${tail}`), target }
}

/** Whether a connected server matches the target. */
async function matches(client: pg.Client, target: TargetSessionAttrs): Promise<boolean> {
  if (target === 'any') return true
  const result = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery')
  const inRecovery = result.rows[0].recovery
  return target === 'standby' || target === 'read-only' ? inRecovery : !inRecovery
}

/**
 * The single-host URL to connect to now: `url` itself when it names one host and asks nothing; otherwise
 * the first host (in order) that answers and matches. Throws PG_UNREACHABLE naming host positions only
 * (the URLs hold the password).
 */
export async function resolveHost(url: string): Promise<string> {
  const list = parseHostList(url)
  if (list === undefined || (list.urls.length === 1 && list.target === 'any')) return url
  const problems: string[] = []
  for (const [index, candidate] of list.urls.entries()) {
    const client = new pg.Client({ ...sessionConfig(candidate), connectionTimeoutMillis: 10_000 })
    try {
      await client.connect()
      if (await matches(client, list.target)) return candidate
      problems.push(`host ${index + 1}: not ${list.target}`)
    } catch (error) {
      problems.push(`host ${index + 1}: ${errorMessage(error)}`)
    } finally {
      await client.end().catch(() => undefined)
    }
  }
  throw new RowcastError('PG_UNREACHABLE', `no host of source.postgres.url is ${list.target === 'any' ? 'reachable' : list.target} (${problems.join('; ')})`)
}
