/** The shape check of a PostgreSQL connection URL, done at config time so the problem names its config path. */
import { errorMessage } from '../../core/errors.ts'
import { parseHostList } from './hosts.ts'

const SCHEMES = new Set(['postgres:', 'postgresql:', 'socket:'])

/**
 * What is wrong with `url` as a pg connection string, or undefined. As lenient as pg's own parsing (it encodes
 * spaces and stray `%` first, and accepts an empty host); the message never repeats the URL (it holds the password).
 */
export function postgresUrlProblem(url: string): string | undefined {
  if (url.startsWith('/')) return undefined // a Unix socket directory, as pg accepts it
  // A libpq host list (h1:p1,h2:p2, target_session_attrs): each host's URL must be one pg accepts.
  let hosts: string[]
  try {
    hosts = parseHostList(url)?.urls ?? [url]
  } catch (error) {
    return errorMessage(error)
  }
  if (hosts.length > 1 || hosts[0] !== url) {
    for (const host of hosts) {
      const problem = singleUrlProblem(host)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  return singleUrlProblem(url)
}

function singleUrlProblem(url: string): string | undefined {
  const text = / |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(url) ? encodeURI(url).replace(/%25(\d\d)/g, '%$1') : url
  let parsed: URL
  try {
    parsed = new URL(text.replace('@/', '@___DUMMY___/'))
  } catch {
    return 'not a valid URL; expected postgres://user:password@host:port/database (percent-encode special characters in the password)'
  }
  if (!SCHEMES.has(parsed.protocol)) return `the scheme is ${JSON.stringify(parsed.protocol.slice(0, -1))}; expected postgres:// or postgresql://`
  return undefined
}
