import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { z } from 'zod'
import type { DebuggerFeed, DebuggerRecord } from './debugger/debugger-feed.ts'
import { createDebuggerAuth, loginPage } from './debugger/debugger-auth.ts'
import { DEBUGGER_PAGE } from './debugger/page.ts'
import type { Logger } from '../core/logger.ts'
import { secret } from '../core/secret-field.ts'
import { redactSecrets } from '../core/secrets.ts'
import type { Metrics } from './metrics.ts'
import type { Telemetry } from '../core/telemetry.ts'
import { trackSyncStatus } from './sync-status.ts'

const MIN_TOKEN_LENGTH = 16

export const httpConfigSchema = z
  .object({
    port: z.number().int().min(0).max(65535).default(9464),
    host: z.string().min(1).default('127.0.0.1'),
    /** Bearer token of the live debugger; without one (or empty) the debugger is off and /debugger answers 404. */
    debuggerToken: secret(
      z
        .string()
        .refine((token) => token === '' || token.length >= MIN_TOKEN_LENGTH, `the debugger shows row data: its token must be at least ${MIN_TOKEN_LENGTH} characters, so it cannot be guessed (make one with: openssl rand -hex 16)`),
    ).optional(),
  })
  .strict()
export type HttpConfig = z.infer<typeof httpConfigSchema>

export interface HttpServer {
  url: string
  close(): Promise<void>
}

/** A viewer that cannot keep up (more than this much unsent) is cut off; its EventSource reconnects from the buffer. */
const MAX_SSE_BACKLOG_BYTES = 8 * 1024 * 1024
const HEARTBEAT_MS = 15_000
const MAX_LOGIN_BODY_BYTES = 4096
const READY_STATES = new Set(['streaming', 'backfilling'])

/**
 * The daemon's HTTP face: `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (every sync streaming or
 * backfilling), `/status` (each sync's state and snapshot progress, JSON: what `rowcast status` shows) and, when a token is configured, the live debugger (`/debugger`, its SSE feed `/debugger/events`
 * and a JSON snapshot `/debugger/records`).
 */
export async function startHttpServer(options: {
  /** The validated `http` slice of the config. */
  config: Readonly<HttpConfig>
  telemetry: Telemetry
  metrics: Metrics
  debuggerFeed?: DebuggerFeed | null
  logger: Logger
}): Promise<HttpServer> {
  const { config, metrics, debuggerFeed } = options
  const logger = options.logger.child({ component: 'http' })
  const auth = config.debuggerToken ? createDebuggerAuth(config.debuggerToken) : null
  const streams = new Set<ServerResponse>()
  const status = trackSyncStatus(options.telemetry)
  // Why each sync is not ready (its last state change's reason: PostgreSQL unreachable, Kafka down…), for /readyz.
  const reasons = new Map<string, string>()
  const offState = options.telemetry.on('state', ({ sync, state, reason }) => {
    if (READY_STATES.has(state) || reason === undefined) reasons.delete(sync)
    else reasons.set(sync, reason)
  })
  const offRemoved = options.telemetry.on('syncRemoved', ({ sync }) => void reasons.delete(sync))

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>> = {
    '/metrics': async (_req, res) => send(res, 200, metrics.registry.contentType, redactLabelValues(await metrics.registry.metrics())),
    '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
    '/readyz': (_req, res) => {
      const states = Object.fromEntries(metrics.syncStates())
      const notReady = Object.entries(states).filter(([, state]) => !READY_STATES.has(state)).map(([sync]) => sync)
      const ready = notReady.length === 0 && Object.keys(states).length > 0
      const why = Object.fromEntries(notReady.flatMap((sync) => (reasons.has(sync) ? [[sync, reasons.get(sync)]] : [])))
      sendJson(res, ready ? 200 : 503, { ready, notReady, syncs: states, ...(ready ? {} : { reasons: why }) })
    },
    '/status': (_req, res) => sendJson(res, 200, { syncs: status.status() }),
    '/debugger': (req, res, url) => {
      if (!debuggerOn(res)) return
      // A token in the URL is a login: answered with a session cookie and a redirect that drops it from the address bar.
      const given = url.searchParams.get('token')
      if (given !== null) {
        if (given !== '' && auth!.matches(given)) loggedIn(res)
        else refuse(req, res, 'wrong token')
      } else if (auth!.allowed(req) || refuse(req, res)) res.writeHead(200, PAGE_HEADERS).end(DEBUGGER_PAGE)
    },
    '/debugger/records': (req, res) => {
      if (debuggerOn(res) && (auth!.allowed(req) || refuse(req, res))) sendJson(res, 200, debuggerFeed!.snapshot())
    },
    '/debugger/events': (req, res) => {
      if (debuggerOn(res) && (auth!.allowed(req) || refuse(req, res))) streamRecords(res, debuggerFeed!)
    },
  }
  const postRoutes: typeof routes = {
    '/debugger/login': async (req, res) => {
      if (!debuggerOn(res)) return
      const token = new URLSearchParams(await readBody(req, MAX_LOGIN_BODY_BYTES)).get('token')
      if (token !== null && token !== '' && auth!.matches(token)) loggedIn(res)
      else refuse(req, res, 'wrong token')
    },
  }

  function debuggerOn(res: ServerResponse): boolean {
    if (auth && debuggerFeed) return true
    send(res, 404, 'text/plain', 'not found\n')
    return false
  }

  function loggedIn(res: ServerResponse): void {
    res.writeHead(303, { location: '/debugger', 'set-cookie': auth!.sessionCookie(), 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).end()
  }

  /** 401; a browser asking for a page gets the login form. Returns false, for `allowed(req) || refuse(…)`. */
  function refuse(req: IncomingMessage, res: ServerResponse, problem?: string): false {
    res.setHeader('www-authenticate', 'Bearer realm="rowcast debugger"')
    if ((req.headers.accept ?? '').includes('text/html')) res.writeHead(401, LOGIN_HEADERS).end(loginPage(problem))
    else send(res, 401, 'text/plain', 'unauthorized\n')
    return false
  }

  function streamRecords(res: ServerResponse, feed: DebuggerFeed): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    res.write(`retry: 2000\nevent: snapshot\ndata: ${JSON.stringify(feed.snapshot())}\n\n`)
    const write = (chunk: string) => {
      if (res.writableLength > MAX_SSE_BACKLOG_BYTES) res.destroy()
      else res.write(chunk)
    }
    const unsubscribe = feed.subscribe((record: DebuggerRecord) => write(`data: ${JSON.stringify(record)}\n\n`))
    const heartbeat = setInterval(() => write(': ping\n\n'), HEARTBEAT_MS)
    streams.add(res)
    res.on('close', () => {
      unsubscribe()
      clearInterval(heartbeat)
      streams.delete(res)
    })
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    const post = postRoutes[path]
    const route = post === undefined ? routes[path] : req.method === 'POST' ? post : undefined
    if (!routes[path] && !post) return send(res, 404, 'text/plain', 'not found\n')
    if (!route || (post === undefined && req.method !== 'GET' && req.method !== 'HEAD')) {
      res.setHeader('allow', post === undefined ? 'GET, HEAD' : 'POST')
      return send(res, 405, 'text/plain', 'method not allowed\n')
    }
    Promise.resolve(route(req, res, url)).catch((error: unknown) => {
      logger.warn({ err: error, path: url.pathname }, 'http request failed')
      if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n')
      else res.destroy()
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { address, port } = server.address() as AddressInfo
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  logger.info({ url, debugger: Boolean(auth && debuggerFeed) }, 'http server listening')

  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        status.close()
        offState()
        offRemoved()
        for (const res of streams) res.end()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}

/** The login form posts to itself: its CSP allows that one form, and nothing else. */
const LOGIN_HEADERS = { ...PAGE_HEADERS, 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'" }

async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) throw new Error(`request body over ${maxBytes} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body)
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body))
}

/** Secrets scrubbed from label values (`{sync="…",topic="…"}`), the only free text in the exposition; names stay as they are. */
function redactLabelValues(text: string): string {
  return text.replace(/\{[^}\n]*\}/g, (labels) => redactSecrets(labels))
}
