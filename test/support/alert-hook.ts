import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** An alert webhook receiver on loopback, for the alert tests: it keeps every notice it is sent. */

export interface Notice {
  action: 'trigger' | 'resolve'
  kind: string
  sync: string
  summary: string
}

export async function startHook(): Promise<{ url: string; notices: Notice[]; server: Server }> {
  const notices: Notice[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      notices.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Notice)
      res.writeHead(200).end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, notices, server }
}

/** `trigger kind` / `resolve kind` of one sync's notices, in order. */
export function actions(notices: readonly Notice[], sync: string): string[] {
  return notices.filter((n) => n.sync === sync).map((n) => `${n.action} ${n.kind}`)
}

export function count(notices: readonly Notice[], sync: string, what: string): number {
  return actions(notices, sync).filter((a) => a === what).length
}

/** The config's alerting part: the webhook at `url`, the given thresholds, and an HTTP port of its own. */
export function webhookAlertsYaml(url: string, thresholds: string): string {
  return `
http: { port: 0 }
alerts: [{ type: webhook, url: "${url}" }]
alertThresholds: { ${thresholds} }`
}

/** The alert and row-error tests' sync: a table's `payload` column as the message, keyed by id (`extra`: more of its lines). */
export function payloadSyncYaml(table: string, extra = ''): string {
  return `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: { column: payload }
${extra}`
}

/** Rows of ~4 KiB that PostgreSQL cannot compress: the WAL grows by what is written. */
export const payload = (): string => JSON.stringify({ pad: randomBytes(2000).toString('hex') })
