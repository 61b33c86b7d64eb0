/**
 * The one place that builds pg connection options: every connection rowcast opens pins the session settings
 * the value parsers (values.ts) rely on, whatever the role or database sets (`ALTER ROLE … SET bytea_output = escape`).
 * For a replication connection these settings also shape the text pgoutput sends (the walsender formats the values).
 */
import type pg from 'pg'

/** Setting → value: text output as values.ts parses it. */
export const PINNED_SETTINGS: Readonly<Record<string, string>> = {
  TimeZone: 'UTC', // timestamptz ends in +00
  DateStyle: 'ISO', // 2024-01-02 03:04:05, not 02/01/2024 or "Tue Jan 02"
  IntervalStyle: 'postgres', // 1 day 02:03:04, not P1DT2H3M4S or "1 2:03:04"
  bytea_output: 'hex', // \x0102, not the escape format
  extra_float_digits: '3', // shortest exact float text (0.30000000000000004), not rounded to 15 digits
}

/**
 * TCP keepalive on every connection (the lock connection and the replication connection above all): a peer that
 * vanished (host down, network cut) is noticed by the kernel within minutes instead of the ~2 h default idle
 * time, so a lost link fails the sync and a standby's lock wait ends. PostgreSQL's own side is bounded by
 * `takeoverTimeoutMs`: wal_sender_timeout (replication) and idle_session_timeout (lock-liveness.ts).
 */
const KEEPALIVE = { keepAlive: true, keepAliveInitialDelayMillis: 10_000 }

/** The startup `options` string: `-c Name=value` each; spaces and backslashes escaped as libpq expects. */
export const PINNED_OPTIONS = Object.entries(PINNED_SETTINGS)
  .map(([name, value]) => optionOf(name, value))
  .join(' ')

function optionOf(name: string, value: string): string {
  return `-c ${name}=${value.replace(/[\\ ]/g, (c) => `\\${c}`)}`
}

/**
 * pg client config for `url` with the settings pinned, plus `settings` of the caller's (the replication session's
 * wal_sender_timeout, settable per connection since PostgreSQL 12). pg lets an `options` parameter in the URL override the
 * config's, so when the URL has one, ours are appended to it (a later `-c` wins).
 */
export function sessionConfig<T extends pg.ClientConfig>(url: string, extra?: T, settings: Readonly<Record<string, string>> = {}): T & { connectionString: string; options: string } {
  const base = { ...KEEPALIVE, ...(extra ?? ({} as T)) }
  const pinned = [PINNED_OPTIONS, ...Object.entries(settings).map(([name, value]) => optionOf(name, value))].join(' ')
  const parsed = parseUrl(url)
  const own = parsed?.searchParams.get('options')
  if (parsed !== undefined && own !== null && own !== undefined) {
    parsed.searchParams.set('options', `${own} ${pinned}`)
    return { ...base, connectionString: parsed.toString(), options: `${own} ${pinned}` }
  }
  return { ...base, connectionString: url, options: pinned }
}

function parseUrl(url: string): URL | undefined {
  try {
    return new URL(url)
  } catch {
    return undefined // pg reports a malformed URL itself, with its own message
  }
}
