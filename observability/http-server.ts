import { createHash, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { z } from 'zod'
import type { DebuggerFeed, DebuggerRecord } from './debugger/debugger-feed.ts'
import { DEBUGGER_PAGE } from './debugger/page.ts'
import type { Logger } from '../core/logger.ts'
import type { Metrics } from './metrics.ts'
import type { Telemetry } from '../core/telemetry.ts'

export const httpConfigSchema = z
  .object({
    port: z.number().int().min(0).max(65535).default(9464),
    host: z.string().min(1).default('127.0.0.1'),
    /** Bearer token of the live debugger; without one (or empty) the debugger is off and /debugger answers 404. */
    debuggerToken: z.string().optional(),
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
const COOKIE = 'rowcast_debugger'
const READY_STATES = new Set(['streaming', 'backfilling'])

/**
 * The daemon's HTTP face: `/metrics` (Prometheus), `/healthz` (alive), `/readyz` (every sync streaming or
 * backfilling) and, when a token is configured, the live debugger (`/debugger`, its SSE feed `/debugger/events`
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
  const tokenDigest = config.debuggerToken ? digest(config.debuggerToken) : null
  const streams = new Set<ServerResponse>()

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>> = {
    '/metrics': async (_req, res) => send(res, 200, metrics.registry.contentType, await metrics.registry.metrics()),
    '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
    '/readyz': (_req, res) => {
      const states = Object.fromEntries(metrics.syncStates())
      const notReady = Object.entries(states).filter(([, state]) => !READY_STATES.has(state)).map(([sync]) => sync)
      const ready = notReady.length === 0 && Object.keys(states).length > 0
      sendJson(res, ready ? 200 : 503, { ready, notReady, syncs: states })
    },
    '/debugger': (req, res, url) => {
      if (!debuggerAllowed(req, res, url)) return
      const headers = { ...PAGE_HEADERS, 'set-cookie': `${COOKIE}=${encodeURIComponent(config.debuggerToken!)}; HttpOnly; SameSite=Strict; Path=/debugger` }
      res.writeHead(200, headers).end(DEBUGGER_PAGE)
    },
    '/debugger/records': (req, res, url) => {
      if (debuggerAllowed(req, res, url)) sendJson(res, 200, debuggerFeed!.snapshot())
    },
    '/debugger/events': (req, res, url) => {
      if (debuggerAllowed(req, res, url)) streamRecords(res, debuggerFeed!)
    },
  }

  function debuggerAllowed(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if (!tokenDigest || !debuggerFeed) {
      send(res, 404, 'text/plain', 'not found\n')
      return false
    }
    const given = presentedToken(req, url)
    if (given !== null && timingSafeEqual(digest(given), tokenDigest)) return true
    res.setHeader('www-authenticate', 'Bearer realm="rowcast debugger"')
    send(res, 401, 'text/plain', 'unauthorized\n')
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
    const route = routes[url.pathname.replace(/\/+$/, '') || '/']
    if (!route) return send(res, 404, 'text/plain', 'not found\n')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
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
  logger.info({ url, debugger: Boolean(tokenDigest && debuggerFeed) }, 'http server listening')

  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
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

function presentedToken(req: IncomingMessage, url: URL): string | null {
  const auth = req.headers.authorization
  if (auth?.startsWith('Bearer ')) return auth.slice('Bearer '.length).trim()
  const query = url.searchParams.get('token')
  if (query) return query
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=')
    if (name === COOKIE) {
      try {
        return decodeURIComponent(value.join('='))
      } catch {
        return null
      }
    }
  }
  return null
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body)
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body))
}
