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
