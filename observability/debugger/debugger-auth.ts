import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/**
 * Who may see the debugger (it shows row data). The token is given once — `Authorization: Bearer`, the login
 * form, or `/debugger?token=` which is answered with a redirect — and a browser then carries a session cookie
 * (HttpOnly, SameSite=Strict): an expiry and an HMAC keyed by the token, so the cookie is not the token, ends
 * by itself, and every session ends when the token changes. No credential travels in a URL after login.
 */
export interface DebuggerAuth {
  /** Bearer header or a valid session cookie; a `?token=` in the URL does not count here. */
  allowed(req: IncomingMessage): boolean
  matches(token: string): boolean
  /** A `set-cookie` value for a new session. */
  sessionCookie(): string
}

export const SESSION_COOKIE = 'rowcast_debugger'
const SESSION_MS = 12 * 60 * 60 * 1000

export function createDebuggerAuth(token: string): DebuggerAuth {
  const tokenDigest = digest(token)
  const matches = (given: string) => timingSafeEqual(digest(given), tokenDigest)
  const sign = (expiry: string) => createHmac('sha256', token).update(`rowcast debugger session ${expiry}`).digest('base64url')
  const validSession = (value: string) => {
    const [expiry, mac] = value.split('.')
    if (!expiry || !mac || !/^\d+$/.test(expiry) || Number(expiry) < Date.now()) return false
    return timingSafeEqual(digest(mac), digest(sign(expiry)))
  }
  return {
    matches,
    allowed(req) {
      const auth = req.headers.authorization
      if (auth?.startsWith('Bearer ')) return matches(auth.slice('Bearer '.length).trim())
      const session = cookie(req, SESSION_COOKIE)
      return session !== undefined && validSession(session)
    },
    sessionCookie() {
      const expiry = String(Date.now() + SESSION_MS)
      return `${SESSION_COOKIE}=${expiry}.${sign(expiry)}; HttpOnly; SameSite=Strict; Path=/debugger; Max-Age=${SESSION_MS / 1000}`
    },
  }
}

/** The form a browser gets instead of a bare 401: the token is typed and POSTed, never put in a URL. */
export function loginPage(problem?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rowcast: log in to the debugger</title>
<style>body{font:14px system-ui,sans-serif;margin:4em auto;max-width:26em}input{width:100%;padding:.4em;margin:.5em 0}p.problem{color:#b00}</style>
</head><body>
<h1>Log in to the rowcast live debugger</h1>
${problem === undefined ? '' : `<p class="problem">${problem}</p>`}
<form method="post" action="/debugger/login">
<label for="token">Debugger token (<code>http.debuggerToken</code>)</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Open the debugger</button>
</form>
</body></html>
`
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return value.join('=')
  }
  return undefined
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}
