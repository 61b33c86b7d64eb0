import { describe, mock, test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { createDebuggerAuth, loginPage, SESSION_COOKIE } from '../../../observability/debugger/debugger-auth.ts'

const TOKEN = 'a-debugger-token-0123456789'
const request = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage
const cookieOf = (setCookie: string) => setCookie.split(';')[0]

describe('debugger sessions', () => {
  test('the cookie is HttpOnly, SameSite=Strict, scoped to /debugger, and not the token', () => {
    const setCookie = createDebuggerAuth(TOKEN).sessionCookie()
    assert.match(setCookie, new RegExp(`^${SESSION_COOKIE}=\\d+\\.[\\w-]+; HttpOnly; SameSite=Strict; Path=/debugger; Max-Age=43200$`))
    assert.equal(setCookie.includes(TOKEN), false)
  })

  test('a session is accepted until it expires; a forged, tampered or other-token session is not', (t) => {
    const auth = createDebuggerAuth(TOKEN)
    const cookie = cookieOf(auth.sessionCookie())
    assert.equal(auth.allowed(request({ cookie: `other=1; ${cookie}` })), true)
    const [name, value] = cookie.split('=')
    const [expiry, mac] = value.split('.')
    assert.equal(auth.allowed(request({ cookie: `${name}=${Number(expiry) + 1000}.${mac}` })), false, 'expiry extended by hand')
    assert.equal(auth.allowed(request({ cookie: `${name}=${expiry}.x${mac.slice(1)}` })), false, 'signature changed')
    assert.equal(auth.allowed(request({ cookie: `${name}=${TOKEN}` })), false, 'the token itself as the cookie')
    assert.equal(createDebuggerAuth(`${TOKEN}-rotated`).allowed(request({ cookie })), false, 'a new token ends old sessions')
    t.mock.method(Date, 'now', () => Number(expiry) + 1)
    assert.equal(auth.allowed(request({ cookie })), false, 'expired')
    mock.restoreAll()
  })

  test('Bearer: the token, compared in constant time; nothing else counts', () => {
    const auth = createDebuggerAuth(TOKEN)
    assert.equal(auth.allowed(request({ authorization: `Bearer ${TOKEN}` })), true)
    assert.equal(auth.allowed(request({ authorization: 'Bearer wrong' })), false)
    assert.equal(auth.allowed(request({})), false)
    assert.equal(auth.matches(TOKEN), true)
    assert.equal(auth.matches(TOKEN.slice(1)), false)
  })

  test('the login form posts the token; it never puts it in a URL', () => {
    const page = loginPage('wrong token')
    assert.match(page, /<form method="post" action="\/debugger\/login">/)
    assert.match(page, /type="password"/)
    assert.match(page, /wrong token/)
  })
})
