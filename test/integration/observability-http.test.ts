import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createDebuggerFeed, type DebuggerRecord } from '../../observability/debugger/debugger-feed.ts'
import { startHttpServer, httpConfigSchema, type HttpServer } from '../../observability/http-server.ts'
import { createLogger } from '../../core/logger.ts'
import { createMetrics, type Metrics } from '../../observability/metrics.ts'
import { Telemetry, type DeliveryRecord } from '../../core/telemetry.ts'

const logger = createLogger({ level: 'silent' })
const TOKEN = 'debugger-token-for-tests'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** Prometheus text format, samples only. */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(match, `unparsable metrics line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v
    samples.push({ name: match[1], labels, value: Number(match[3]) })
  }
  return samples
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}

function deliveryRecord(overrides: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    sync: 'users',
    time: Date.now(),
    type: 'added',
    table: 'public.users',
    key: '1',
    row: { id: 1, email_address: 'ada@example.com' },
    message: '{"id":1,"email_address":"ada@example.com"}',
    topic: 'users-topic',
    partition: 2,
    offset: '41',
    status: 'sent',
    latencyMs: 12,
    lsn: '0/1',
    ...overrides,
  }
}

describe('HTTP server: metrics, health, readiness, debugger', () => {
  let telemetry: Telemetry
  let metrics: Metrics
  let server: HttpServer

  before(async () => {
    telemetry = new Telemetry()
    metrics = createMetrics(telemetry)
    const debuggerFeed = createDebuggerFeed({ config: { redact: ['email_address'], bufferSize: 10 }, telemetry })
    server = await startHttpServer({ config: httpConfigSchema.parse({ port: 0, debuggerToken: TOKEN }), telemetry, metrics, debuggerFeed, logger })
  })
  after(async () => {
    await server.close()
    metrics.close()
  })

  test('/metrics exposes every rowcast metric, labelled by sync, after telemetry events', async () => {
    telemetry.emit('received', { sync: 'users', counts: { added: 3, changed: 2, removed: 0 } })
    telemetry.emit('filtered', { sync: 'users', count: 4, reason: 'trigger' })
    telemetry.emit('produced', { sync: 'users', topic: 'users-topic', count: 5, bytes: 1234, produceLatencyMs: 7, endToEndLatenciesMs: [3, 40, 2500] })
    telemetry.emit('rejected', { sync: 'users', reason: 'message-too-large', count: 1 })
    telemetry.emit('deadLettered', { sync: 'users', reason: 'template-error', count: 2 })
    telemetry.emit('truncated', { sync: 'users', table: 'public.users' })
    telemetry.emit('inFlight', { sync: 'users', messages: 17, bytes: 4096 })
    telemetry.emit('paused', { sync: 'users', paused: true })
    telemetry.emit('checkpoint', { sync: 'users', lsn: 0x16b3748n, lagBytes: 2048, lagSeconds: 1.5 })
    const stats = { spillTxns: 1, spillBytes: 100, streamTxns: 2, streamBytes: 200, totalTxns: 10, totalBytes: 1000 }
    const slot = { sync: 'users', slot: 'rowcast_users', lagBytes: 1024, lagSeconds: 0.5, retainedBytes: 4096, walStatus: 'reserved', safeWalBytes: 65536 }
    telemetry.emit('slotHealth', { ...slot, stats })
    telemetry.emit('slotHealth', { ...slot, lagBytes: 2048, lagSeconds: 1.5, walStatus: 'extended', stats: { ...stats, spillTxns: 3, totalTxns: 15 } })
    telemetry.emit('slotHealth', { ...slot, lagBytes: 2048, lagSeconds: 1.5, walStatus: 'extended', stats: { ...stats, spillTxns: 3, totalTxns: 4 } }) // statistics reset on the server
    telemetry.emit('backfill', { sync: 'users', done: 50, total: 200 })
    telemetry.emit('reconnect', { sync: 'users', target: 'kafka', error: 'ECONNREFUSED' })
    telemetry.emit('state', { sync: 'users', state: 'streaming' })

    const response = await fetch(`${server.url}/metrics`)
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type')!, /^text\/plain/)
    const samples = parseMetrics(await response.text())
    const expect = (name: string, labels: Record<string, string>, expected: number) => assert.equal(value(samples, name, labels), expected, `${name} ${JSON.stringify(labels)}`)

    expect('rowcast_row_changes_received_total', { sync: 'users', type: 'added' }, 3)
    expect('rowcast_row_changes_received_total', { sync: 'users', type: 'changed' }, 2)
    expect('rowcast_row_changes_filtered_total', { sync: 'users', reason: 'trigger' }, 4)
    expect('rowcast_messages_produced_total', { sync: 'users', topic: 'users-topic' }, 5)
    expect('rowcast_produced_bytes_total', { sync: 'users', topic: 'users-topic' }, 1234)
    expect('rowcast_rows_rejected_total', { sync: 'users', reason: 'message-too-large' }, 1)
    expect('rowcast_rows_dead_lettered_total', { sync: 'users', reason: 'template-error' }, 2)
    expect('rowcast_truncates_total', { sync: 'users', table: 'public.users' }, 1)
    expect('rowcast_kafka_produce_latency_seconds_count', { sync: 'users' }, 1)
    expect('rowcast_kafka_produce_latency_seconds_sum', { sync: 'users' }, 0.007)
    expect('rowcast_end_to_end_latency_seconds_count', { sync: 'users' }, 3)
    expect('rowcast_end_to_end_latency_seconds_bucket', { sync: 'users', le: '0.001' }, 0)
    expect('rowcast_end_to_end_latency_seconds_bucket', { sync: 'users', le: '0.005' }, 1)
    expect('rowcast_end_to_end_latency_seconds_bucket', { sync: 'users', le: '0.05' }, 2)
    expect('rowcast_end_to_end_latency_seconds_bucket', { sync: 'users', le: '60' }, 3)
    expect('rowcast_in_flight_messages', { sync: 'users' }, 17)
    expect('rowcast_in_flight_bytes', { sync: 'users' }, 4096)
    expect('rowcast_paused', { sync: 'users' }, 1)
    expect('rowcast_replication_lag_bytes', { sync: 'users' }, 2048)
    expect('rowcast_replication_lag_seconds', { sync: 'users' }, 1.5)
    expect('rowcast_confirmed_lsn', { sync: 'users' }, 0x16b3748)
    const slotLabels = { sync: 'users', slot: 'rowcast_users' }
    expect('rowcast_slot_retained_wal_bytes', slotLabels, 4096)
    expect('rowcast_slot_safe_wal_bytes', slotLabels, 65536)
    expect('rowcast_slot_wal_status', { ...slotLabels, status: 'extended' }, 1)
    expect('rowcast_slot_wal_status', { ...slotLabels, status: 'reserved' }, 0)
    expect('rowcast_slot_spill_txns_total', slotLabels, 3)
    expect('rowcast_slot_spill_bytes_total', slotLabels, 100)
    expect('rowcast_slot_stream_txns_total', slotLabels, 2)
    expect('rowcast_slot_stream_bytes_total', slotLabels, 200)
    expect('rowcast_slot_txns_total', slotLabels, 19) // 10, +5, then a reset and 4 more: a counter never goes down
    expect('rowcast_slot_decoded_bytes_total', slotLabels, 1000)
    const sinceDelivery = value(samples, 'rowcast_seconds_since_last_delivery', { sync: 'users' })
    assert.ok(sinceDelivery !== undefined && sinceDelivery >= 0 && sinceDelivery < 60, `rowcast_seconds_since_last_delivery ${sinceDelivery}`)
    expect('rowcast_backfill_rows_done', { sync: 'users' }, 50)
    expect('rowcast_backfill_rows_total', { sync: 'users' }, 200)
    expect('rowcast_reconnects_total', { sync: 'users', target: 'kafka' }, 1)
    expect('rowcast_sync_state', { sync: 'users', state: 'streaming' }, 1)
    expect('rowcast_sync_state', { sync: 'users', state: 'failed' }, 0)
    assert.ok(samples.some((s) => s.name === 'rowcast_process_cpu_user_seconds_total'), 'default process metrics')
    assert.deepEqual(samples.filter((s) => !s.name.startsWith('rowcast_')), [])
  })

  test('/healthz answers 200', async () => {
    const response = await fetch(`${server.url}/healthz`)
    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), { status: 'ok' })
  })

  test('/readyz is 200 only while every sync streams or backfills, else 503 naming the others', async () => {
    telemetry.emit('state', { sync: 'users', state: 'streaming' })
    telemetry.emit('state', { sync: 'orders', state: 'backfilling' })
    let response = await fetch(`${server.url}/readyz`)
    assert.equal(response.status, 200)
    assert.deepEqual((await response.json()).notReady, [])

    telemetry.emit('state', { sync: 'orders', state: 'degraded', kind: 'kafka-unreachable' })
    response = await fetch(`${server.url}/readyz`)
    assert.equal(response.status, 503)
    const body = await response.json()
    assert.deepEqual(body.notReady, ['orders'])
    assert.equal(body.syncs.orders, 'degraded')

    // Why it is not ready: the reason of its last state change (here: a server not reachable at start).
    telemetry.emit('state', { sync: 'orders', state: 'degraded', reason: 'cannot connect to PostgreSQL: connect ECONNREFUSED 127.0.0.1:5432' })
    assert.deepEqual((await (await fetch(`${server.url}/readyz`)).json()).reasons, { orders: 'cannot connect to PostgreSQL: connect ECONNREFUSED 127.0.0.1:5432' })

    telemetry.emit('state', { sync: 'orders', state: 'streaming' })
    response = await fetch(`${server.url}/readyz`)
    assert.equal(response.status, 200)
    assert.equal((await response.json()).reasons, undefined)
  })

  test('/debugger refuses a missing or wrong token with 401 and leaks nothing', async () => {
    telemetry.emit('record', deliveryRecord({ key: 'secret-row-key' }))
    for (const path of ['/debugger', '/debugger/events', '/debugger/records', '/debugger?token=wrong', '/debugger/records?token=']) {
      const response = await fetch(`${server.url}${path}`)
      assert.equal(response.status, 401, path)
      const text = await response.text()
      assert.equal(text, 'unauthorized\n')
    }
    const wrongBearer = await fetch(`${server.url}/debugger/records`, { headers: { authorization: 'Bearer nope' } })
    assert.equal(wrongBearer.status, 401)
  })

  test('/debugger serves the page with the token, and the records redacted', async () => {
    // Logs in with the header (a `?token=` login answers with a redirect and a cookie: see the next test).
    const page = await fetch(`${server.url}/debugger`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type')!, /text\/html/)
    assert.match(page.headers.get('content-security-policy')!, /default-src 'none'/)
    assert.match(await page.text(), /rowcast debugger/)

    const records = await fetch(`${server.url}/debugger/records`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(records.status, 200)
    const list = (await records.json()) as DebuggerRecord[]
    assert.ok(list.length >= 1)
    const text = JSON.stringify(list)
    assert.equal(text.includes('ada@example.com'), false, 'redacted column leaked')
  })

  test('after one login the token travels in no URL: a session cookie (HttpOnly, SameSite=Strict) that is not the token', async () => {
    const login = await fetch(`${server.url}/debugger?token=${TOKEN}`, { redirect: 'manual' })
    assert.equal(login.status, 303)
    assert.equal(login.headers.get('location'), '/debugger', 'the token leaves the address bar')
    const setCookie = login.headers.get('set-cookie') ?? ''
    assert.match(setCookie, /; HttpOnly/)
    assert.match(setCookie, /; SameSite=Strict/)
    assert.match(setCookie, /; Path=\/debugger/)
    assert.equal(setCookie.includes(TOKEN), false, 'the cookie carries the token itself')
    const cookie = setCookie.split(';')[0]

    const page = await fetch(`${server.url}/debugger`, { headers: { cookie } })
    assert.equal(page.status, 200)
    const html = await page.text()
    assert.equal(html.includes('token='), false, 'the page builds URLs with the token')
    assert.equal(html.includes(TOKEN), false)
    assert.equal((await fetch(`${server.url}/debugger/records`, { headers: { cookie } })).status, 200)
    const events = new AbortController()
    assert.equal((await fetch(`${server.url}/debugger/events`, { headers: { cookie }, signal: events.signal })).status, 200)
    events.abort()

    // the feed and the records never take the token from a URL, even the right one
    for (const path of ['/debugger/events', '/debugger/records']) assert.equal((await fetch(`${server.url}${path}?token=${TOKEN}`)).status, 401, path)
    assert.equal((await fetch(`${server.url}/debugger/records`, { headers: { cookie: 'rowcast_debugger=forged' } })).status, 401, 'a forged cookie')

    // a login form for browsers: POST the token, get the same cookie; a wrong one is 401
    const form = await fetch(`${server.url}/debugger`, { headers: { accept: 'text/html' } })
    assert.equal(form.status, 401)
    assert.match(await form.text(), /<form method="post" action="\/debugger\/login"/)
    const posted = await fetch(`${server.url}/debugger/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' })
    assert.equal(posted.status, 303)
    assert.equal((await fetch(`${server.url}/debugger/records`, { headers: { cookie: (posted.headers.get('set-cookie') ?? '').split(';')[0] } })).status, 200)
    const wrong = await fetch(`${server.url}/debugger/login`, { method: 'POST', body: new URLSearchParams({ token: 'wrong-token-wrong-token' }), redirect: 'manual' })
    assert.equal(wrong.status, 401)
    assert.equal(wrong.headers.get('set-cookie'), null)
  })

  test('a debugger token shorter than 16 characters is refused at config load; empty still means off', () => {
    const short = httpConfigSchema.safeParse({ debuggerToken: 'short-token' })
    assert.equal(short.success, false)
    assert.match(short.error!.issues[0].message, /at least 16 characters/)
    assert.deepEqual(short.error!.issues[0].path, ['debuggerToken'])
    assert.equal(httpConfigSchema.safeParse({ debuggerToken: '' }).success, true)
    assert.equal(httpConfigSchema.safeParse({ debuggerToken: TOKEN }).success, true)
  })

  test('/debugger/events sends the buffer first, then live records (SSE)', async () => {
    const controller = new AbortController()
    const response = await fetch(`${server.url}/debugger/events`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: controller.signal })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type')!, /^text\/event-stream/)
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let text = ''
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`stream ended before ${pattern}: ${text}`)
        text += value
      }
    }
    await readUntil(/event: snapshot\ndata: .*\n\n/)
    assert.match(text, /secret-row-key/)
    telemetry.emit('record', deliveryRecord({ key: 'live-key', status: 'rejected', error: 'too large' }))
    await readUntil(/\ndata: \{.*"live-key".*\}\n\n/)
    controller.abort()
  })

  test('without a token the debugger is off: 404', async () => {
    const t = new Telemetry()
    const m = createMetrics(t)
    const off = await startHttpServer({ config: httpConfigSchema.parse({ port: 0 }), telemetry: t, metrics: m, debuggerFeed: null, logger })
    try {
      assert.equal((await fetch(`${off.url}/debugger?token=anything`)).status, 404)
      assert.equal((await fetch(`${off.url}/debugger/events`)).status, 404)
      assert.equal((await fetch(`${off.url}/readyz`)).status, 503) // no sync has reported yet
    } finally {
      await off.close()
      m.close()
    }
  })

  test('unknown paths are 404, other methods 405; config is strict', async () => {
    assert.equal((await fetch(`${server.url}/nope`)).status, 404)
    assert.equal((await fetch(`${server.url}/metrics`, { method: 'POST' })).status, 405)
    assert.deepEqual(httpConfigSchema.parse({}), { port: 9464, host: '127.0.0.1' })
    assert.equal(httpConfigSchema.safeParse({ debugger_token: 'x' }).success, false)
  })
})
