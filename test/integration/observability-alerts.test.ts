import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import type { Logger } from '../../core/logger.ts'
import { SMTPServer } from 'smtp-server'
import { alertsConfigSchema, createAlerts } from '../../observability/alerts/notifier.ts'
import { alertThresholdsSchema } from '../../observability/alerts/alert-policy.ts'
import { registerSecret } from '../../core/secrets.ts'
import { Telemetry } from '../../core/telemetry.ts'

interface Received {
  path: string
  headers: IncomingMessage['headers']
  body: Record<string, unknown>
}

interface Mail {
  from: string
  to: string[]
  user: string | undefined
  raw: string
}

const ROUTING_KEY = 'R0UTINGKEY-for-tests-0123456789'
const SLACK_SECRET_PATH = '/slack/T000/B000/secretslackpath'

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A real HTTP receiver on loopback recording every request; `/flaky` answers 500 twice before accepting. */
async function startReceiver(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = []
  let flakyCalls = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ path: req.url!, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
      if (req.url === '/flaky' && ++flakyCalls <= 2) return res.writeHead(500).end('try later')
      if (req.url === '/bad-request') return res.writeHead(400).end('no')
      res.writeHead(req.url === '/pagerduty' ? 202 : 200, { 'content-type': 'application/json' }).end('{"status":"success"}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server }
}

async function startSmtp(): Promise<{ port: number; mails: Mail[]; logins: string[]; server: SMTPServer }> {
  const mails: Mail[] = []
  const logins: string[] = []
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    onAuth(auth, _session, callback) {
      logins.push(`${auth.username}:${auth.password}`)
      if (auth.username === 'alerts' && auth.password === 'smtp-pass-1234') callback(null, { user: auth.username })
      else callback(new Error('invalid credentials'))
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          raw: Buffer.concat(chunks).toString('utf8'),
        })
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.server.address() as AddressInfo).port, mails, logins, server }
}

function captureLogs(): { lines: string[]; logger: Logger } {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString('utf8'))
      callback()
    },
  })
  return { lines, logger: pino({ level: 'debug' }, stream) as unknown as Logger }
}

describe('alerts: Slack, PagerDuty, webhook and email, against real local receivers', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let smtp: Awaited<ReturnType<typeof startSmtp>>

  before(async () => {
    registerSecret(ROUTING_KEY)
    registerSecret(`http://127.0.0.1${SLACK_SECRET_PATH}`)
    receiver = await startReceiver()
    smtp = await startSmtp()
  })
  after(async () => {
    receiver.server.close()
    await new Promise<void>((resolve) => smtp.server.close(() => resolve()))
  })

  test('Kafka unreachable past the threshold: one trigger per channel, then one resolve, same dedup_key', async () => {
    const telemetry = new Telemetry()
    const { logger } = captureLogs()
    const alerts = createAlerts({
      config: alertsConfigSchema.parse([
        { type: 'slack', url: `${receiver.url}${SLACK_SECRET_PATH}` },
        { type: 'pagerduty', routingKey: ROUTING_KEY, url: `${receiver.url}/pagerduty` },
        { type: 'webhook', url: `${receiver.url}/hook`, headers: { authorization: 'Bearer hook-token' } },
        // This local server offers no STARTTLS: plaintext is allowed explicitly (the default refuses it, see below).
        { type: 'email', smtp: `smtp://alerts:smtp-pass-1234@127.0.0.1:${smtp.port}`, to: ['oncall@example.com'], from: 'rowcast@example.com', allowPlaintext: true },
      ]),
      thresholds: alertThresholdsSchema.parse({ kafkaUnreachableMs: 300 }),
      telemetry,
      logger,
    })
    try {
      const start = Date.now()
      telemetry.emit('state', { sync: 'orders', state: 'degraded', kind: 'kafka-unreachable', reason: 'Kafka unreachable' })
      telemetry.emit('state', { sync: 'orders', state: 'degraded', kind: 'kafka-unreachable', reason: 'Kafka unreachable' })
      await new Promise((resolve) => setTimeout(resolve, 150))
      assert.equal(receiver.received.length, 0, 'nothing before the threshold')
      await waitFor('the triggers', () => receiver.received.length === 3 && smtp.mails.length === 1)
      assert.ok(Date.now() - start >= 300)

      const byPath = (path: string) => receiver.received.filter((r) => r.path === path)
      const [slack] = byPath(SLACK_SECRET_PATH)
      assert.match(String(slack.body.text), /rowcast sync `orders` failing \(kafka-unreachable\): sync orders: Kafka unreachable for \d+ s/)
      assert.ok(Array.isArray(slack.body.blocks))

      const [trigger] = byPath('/pagerduty')
      assert.equal(trigger.body.routing_key, ROUTING_KEY)
      assert.equal(trigger.body.event_action, 'trigger')
      assert.equal(trigger.body.dedup_key, 'rowcast/orders/kafka-unreachable')
      const payload = trigger.body.payload as Record<string, unknown>
      assert.match(String(payload.summary), /Kafka unreachable/)
      assert.equal(payload.severity, 'critical')
      assert.equal(typeof payload.source, 'string')

      const [hook] = byPath('/hook')
      assert.equal(hook.headers.authorization, 'Bearer hook-token')
      assert.deepEqual({ ...hook.body, summary: undefined, time: undefined, source: undefined }, {
        version: 1, action: 'trigger', sync: 'orders', kind: 'kafka-unreachable', dedupKey: 'rowcast/orders/kafka-unreachable',
        summary: undefined, time: undefined, source: undefined,
      })

      const [mail] = smtp.mails
      assert.equal(mail.user, 'alerts')
      assert.equal(mail.from, 'rowcast@example.com')
      assert.deepEqual(mail.to, ['oncall@example.com'])
      assert.match(mail.raw, /Subject: \[rowcast\] FAILING: sync orders: Kafka unreachable/)
      assert.match(mail.raw, /kind: +kafka-unreachable/)

      // more degraded events while failing: no new notice; recovery: exactly one resolve
      telemetry.emit('state', { sync: 'orders', state: 'degraded', kind: 'kafka-unreachable' })
      telemetry.emit('state', { sync: 'orders', state: 'streaming' })
      telemetry.emit('state', { sync: 'orders', state: 'streaming' })
      await waitFor('the resolves', () => receiver.received.length === 6 && smtp.mails.length === 2)
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.equal(receiver.received.length, 6)
      assert.equal(smtp.mails.length, 2)

      const resolve = byPath('/pagerduty')[1]
      assert.deepEqual(resolve.body, { routing_key: ROUTING_KEY, dedup_key: 'rowcast/orders/kafka-unreachable', event_action: 'resolve' })
      assert.match(String(byPath(SLACK_SECRET_PATH)[1].body.text), /recovered/)
      assert.equal(byPath('/hook')[1].body.action, 'resolve')
      assert.match(smtp.mails[1].raw, /Subject: \[rowcast\] RESOLVED: sync orders: Kafka unreachable/)
    } finally {
      await alerts.close()
      receiver.received.length = 0
      smtp.mails.length = 0
    }
  })

  test('email: an SMTP server without STARTTLS gets neither the password nor the alert (unless allowPlaintext)', async () => {
    const telemetry = new Telemetry()
    const { lines, logger } = captureLogs()
    smtp.logins.length = 0
    const alerts = createAlerts({
      config: alertsConfigSchema.parse([{ type: 'email', smtp: `smtp://alerts:smtp-pass-1234@127.0.0.1:${smtp.port}`, to: ['oncall@example.com'] }]),
      thresholds: alertThresholdsSchema.parse({}),
      telemetry,
      logger,
      retry: { attempts: 2, initialDelayMs: 20 },
    })
    try {
      telemetry.emit('state', { sync: 'orders', state: 'failed', reason: 'fatal error' })
      await waitFor('the email channel to give up', () => lines.some((l) => l.includes('giving up') && l.includes('email')))
      assert.deepEqual(smtp.logins, [], 'the SMTP password was sent over plaintext')
      assert.equal(smtp.mails.length, 0, 'the alert was sent over plaintext')
      const warning = lines.map((l) => JSON.parse(l)).find((l) => l.channel === 'email')
      assert.match(warning.error, /STARTTLS/)
      assert.match(warning.error, /allowPlaintext/)
      assert.equal(lines.join('\n').includes('smtp-pass-1234'), false, 'the SMTP password leaked into the logs')
    } finally {
      await alerts.close()
      smtp.mails.length = 0
    }
  })

  test('a burst of rejected rows and a failed sync: one notice each, never one per row', async () => {
    const telemetry = new Telemetry()
    const { logger } = captureLogs()
    const alerts = createAlerts({ config: alertsConfigSchema.parse([{ type: 'webhook', url: `${receiver.url}/hook` }]), thresholds: alertThresholdsSchema.parse({ rejectedRows: 1 }), telemetry, logger })
    try {
      for (let i = 0; i < 200; i++) telemetry.emit('rejected', { sync: 'users', reason: 'message-too-large', count: 1 })
      for (let i = 0; i < 20; i++) telemetry.emit('state', { sync: 'users', state: 'failed', reason: 'row error under onRowError=fail', kind: 'fatal' })
      const slot = { sync: 'users', slot: 'rowcast_users', lagSeconds: 1, retainedBytes: 0, walStatus: 'reserved', safeWalBytes: null, stats: null }
      telemetry.emit('slotHealth', { ...slot, lagBytes: 2 * 1024 ** 3 })
      telemetry.emit('slotHealth', { ...slot, lagBytes: 3 * 1024 ** 3 })
      await waitFor('three notices', () => receiver.received.length === 3)
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.deepEqual(receiver.received.map((r) => `${r.body.action} ${r.body.kind}`), ['trigger row-errors', 'trigger fatal', 'trigger lag'])
      assert.match(String(receiver.received[1].body.summary), /row error under onRowError=fail/)
    } finally {
      await alerts.close()
      receiver.received.length = 0
    }
  })

  test('a failing channel is retried with backoff, logged without secrets, and never blocks or throws into the emitter', async () => {
    const telemetry = new Telemetry()
    const { lines, logger } = captureLogs()
    const deadPort = await (async () => {
      const s = createServer()
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
      const port = (s.address() as AddressInfo).port
      await new Promise((resolve) => s.close(resolve))
      return port
    })()
    const alerts = createAlerts({
      config: alertsConfigSchema.parse([
        { type: 'webhook', url: `${receiver.url}/flaky` },
        { type: 'pagerduty', routingKey: ROUTING_KEY, url: `http://127.0.0.1:${deadPort}/v2/enqueue` },
        { type: 'webhook', url: `${receiver.url}/bad-request` },
      ]),
      thresholds: alertThresholdsSchema.parse({ kafkaUnreachableMs: 0 }),
      telemetry,
      logger,
      retry: { attempts: 4, initialDelayMs: 50 },
    })
    try {
      const before = performance.now()
      telemetry.emit('state', { sync: 'orders', state: 'failed', reason: 'fatal error' })
      assert.ok(performance.now() - before < 50, 'emit returned at once')
      await waitFor('the flaky channel to accept', () => receiver.received.filter((r) => r.path === '/flaky').length === 3)
      await waitFor('the dead channel to give up', () => lines.some((l) => l.includes('giving up') && l.includes('pagerduty')))
      const flaky = receiver.received.filter((r) => r.path === '/flaky')
      assert.ok(flaky.every((r) => r.body.action === 'trigger'), 'the same notice, retried')
      assert.equal(receiver.received.filter((r) => r.path === '/bad-request').length, 1, '4xx is not retried')
      const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.msg.startsWith('alert channel failed'))
      assert.equal(warnings.filter((w) => w.channel === 'pagerduty').length, 4)
      assert.ok(warnings.every((w) => w.component === 'alerts' && w.sync === 'orders'))
      assert.equal(lines.join('\n').includes(ROUTING_KEY), false, 'routing key leaked into the logs')
    } finally {
      await alerts.close()
      receiver.received.length = 0
    }
  })

  test('config schema: channels are validated and strict', () => {
    assert.deepEqual(alertsConfigSchema.parse([{ type: 'pagerduty', routingKey: 'k' }]), [
      { type: 'pagerduty', routingKey: 'k', url: 'https://events.pagerduty.com/v2/enqueue', severity: 'critical' },
    ])
    assert.equal(alertsConfigSchema.safeParse([{ type: 'slack', url: 'not a url' }]).success, false)
    assert.equal(alertsConfigSchema.safeParse([{ type: 'email', smtp: 'http://x', to: ['a@b.c'] }]).success, false)
    assert.equal(alertsConfigSchema.safeParse([{ type: 'email', smtp: 'smtp://x', to: [] }]).success, false)
    assert.equal(alertsConfigSchema.safeParse([{ type: 'email', smtp: 'smtp://x?ignoreTLS=true', to: ['a@b.c'] }]).success, false, 'TLS is not weakened through the URL')
    assert.equal(alertsConfigSchema.safeParse([{ type: 'webhook', url: 'https://x', extra: 1 }]).success, false)
    assert.equal(alertsConfigSchema.safeParse([{ type: 'sms', to: '1' }]).success, false)
  })
})
