import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { chromium, type Browser, type Page } from 'playwright-core'
import { createDebuggerFeed } from '../../observability/debugger/debugger-feed.ts'
import { httpConfigSchema, startHttpServer, type HttpServer } from '../../observability/http-server.ts'
import { createLogger } from '../../core/logger.ts'
import { createMetrics, type Metrics } from '../../observability/metrics.ts'
import { Telemetry, type DeliveryRecord } from '../../core/telemetry.ts'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, consume, createTopics, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'

const CHROMIUM = process.env.ROWCAST_CHROMIUM ?? '/usr/bin/chromium'
const TOKEN = 'browser-test-token-123'
const logger = createLogger({ level: 'silent' })

async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
}

function deliveryRecord(overrides: Partial<DeliveryRecord>): DeliveryRecord {
  return {
    sync: 'users',
    time: Date.now(),
    type: 'added',
    table: 'public.users',
    key: '1',
    row: { id: 1, name: 'Ada', email_address: 'ada@example.com' },
    message: '{"id":1,"name":"Ada","email_address":"ada@example.com"}',
    topic: 'users-topic',
    partition: 0,
    offset: '0',
    headers: { source: 'rowcast' },
    status: 'sent',
    latencyMs: 5,
    lsn: '0/1',
    ...overrides,
  }
}

const rowText = (page: Page, key: string) => page.locator('#rows tr', { has: page.locator('td.key', { hasText: new RegExp(`^${key}$`) }) })

describe('live debugger page in Chromium (fed by a Telemetry driven from the test)', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM}` }, () => {
  let browser: Browser
  let telemetry: Telemetry
  let metrics: Metrics
  let server: HttpServer

  before(async () => {
    telemetry = new Telemetry()
    metrics = createMetrics(telemetry)
    const debuggerFeed = createDebuggerFeed({ config: { redact: ['email_address'], bufferSize: 50 }, telemetry })
    server = await startHttpServer({ config: httpConfigSchema.parse({ port: 0, debuggerToken: TOKEN }), telemetry, metrics, debuggerFeed, logger })
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
    await server?.close()
    metrics?.close()
  })

  test('a wrong token is refused', async () => {
    const page = await browser.newPage()
    const response = await page.goto(`${server.url}/debugger?token=wrong`)
    assert.equal(response!.status(), 401)
    assert.equal((await page.content()).includes('rowcast debugger'), false)
    await page.close()
  })

  test('the login form: the token is typed, never put in a URL', async () => {
    telemetry.emit('record', deliveryRecord({ key: 'form-1' }))
    const page = await browser.newPage()
    const requested: string[] = []
    page.on('request', (request) => requested.push(request.url()))
    assert.equal((await page.goto(`${server.url}/debugger`))!.status(), 401)
    await page.fill('#token', TOKEN)
    await Promise.all([page.waitForURL(`${server.url}/debugger`), page.click('button[type=submit]')])
    await rowText(page, 'form-1').waitFor()
    await page.locator('#conn.live').waitFor()
    assert.deepEqual(requested.filter((url) => url.includes('token')), [])
    await page.close()
  })

  test('buffered and live records appear with topic and offset; filter, search, pause and details work', async () => {
    telemetry.emit('record', deliveryRecord({ key: '1', offset: '10', partition: 1 }))
    telemetry.emit('record', deliveryRecord({ key: '2', status: 'rejected', error: 'message too large', topic: undefined, partition: undefined, offset: undefined }))

    const page = await browser.newPage()
    const requested: string[] = []
    page.on('request', (request) => requested.push(request.url()))
    const response = await page.goto(`${server.url}/debugger?token=${TOKEN}`)
    assert.equal(response!.status(), 200)
    assert.equal(new URL(page.url()).search, '', 'the token is removed from the address bar')

    // the buffer, loaded first
    await rowText(page, '1').waitFor()
    assert.equal(await rowText(page, '1').locator('td').nth(6).textContent(), 'users-topic')
    assert.equal(await rowText(page, '1').locator('td.partition').textContent(), '1')
    assert.equal(await rowText(page, '1').locator('td.offset').textContent(), '10')
    await page.locator('#conn.live').waitFor()
    assert.deepEqual(requested.filter((url) => url.includes(TOKEN)), [`${server.url}/debugger?token=${TOKEN}`], 'after the login, the token travels in no URL')

    // then live
    telemetry.emit('record', deliveryRecord({ key: '3', offset: '11', sync: 'orders', topic: 'orders-topic' }))
    await rowText(page, '3').waitFor()
    assert.equal(await rowText(page, '3').locator('td.offset').textContent(), '11')

    // filter by status
    await page.selectOption('#status', 'rejected')
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 1)
    assert.equal(await page.locator('#rows tr').getAttribute('data-status'), 'rejected')
    await page.selectOption('#status', '')

    // filter by sync (the option appeared with the live record) and search by key
    await page.selectOption('#sync', 'orders')
    await page.waitForFunction(() => [...document.querySelectorAll('#rows tr')].every((tr) => (tr as HTMLElement).dataset.sync === 'orders'))
    await page.selectOption('#sync', '')
    await page.fill('#key', '2')
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 1)
    await page.fill('#key', '')

    // details of one event: the row redacted, the message, headers
    await rowText(page, '1').click()
    const detail = page.locator('#detail')
    await detail.locator('pre.row').waitFor()
    const row = JSON.parse((await detail.locator('pre.row').textContent())!)
    assert.deepEqual(row, { id: 1, name: 'Ada', email_address: '[redacted]' })
    assert.equal((await detail.textContent())!.includes('ada@example.com'), false)
    assert.match((await detail.locator('pre.headers').textContent())!, /rowcast/)

    // pause holds new events back until resumed
    await page.click('#pause')
    telemetry.emit('record', deliveryRecord({ key: '4', offset: '12' }))
    await page.waitForFunction(() => document.getElementById('count')!.textContent!.includes('1 held'))
    assert.equal(await rowText(page, '4').count(), 0)
    await page.click('#pause')
    await rowText(page, '4').waitFor()
    await page.close()
  })
})

describe('live debugger page in Chromium, against the real daemon and stack', { skip: !existsSync(CHROMIUM) && `no Chromium at ${CHROMIUM}` }, () => {
  let env: StackEnv
  let browser: Browser

  before(async () => {
    env = await stack()
    browser = await launchChromium()
  })
  after(async () => {
    await browser?.close()
  })

  test('rows written to PostgreSQL appear on the page with the topic, partition and offset Kafka gave them', async () => {
    const table = uniqueName('dbg')
    const topic = uniqueName('dbg')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text, email_address text)`)
    await createTopics(env, [topic])
    const config = configFor(
      env,
      `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, name: name, email_address: email_address } }
`,
      `
http: { port: 0, debuggerToken: ${TOKEN} }
debugger: { redact: [email_address], bufferSize: 100 }
`,
    )
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [topic])
    const page = await browser.newPage()
    try {
      await streaming(daemon)
      assert.ok(daemon.url)
      assert.equal((await fetch(`${daemon.url}/readyz`)).status, 200)
      assert.equal((await page.goto(`${daemon.url}/debugger?token=wrong`))!.status(), 401)

      await sql(env, `INSERT INTO ${table} VALUES (1, 'before the page', 'one@example.com')`) // buffered, then loaded
      await consumer.waitFor(1)
      assert.equal((await page.goto(`${daemon.url}/debugger?token=${TOKEN}`))!.status(), 200)
      await page.locator('#conn.live').waitFor()
      await sql(env, `INSERT INTO ${table} VALUES (2, 'live', 'two@example.com')`) // streamed
      await sql(env, `UPDATE ${table} SET name = 'live again' WHERE id = 2`)
      const received = await consumer.waitFor(3)

      await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 3, undefined, { timeout: 15_000 })
      const shown = await page.locator('#rows tr').evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      )
      // columns: time, sync, status, type, table, key, topic, partition, offset, latency, error
      const onPage = shown.map((cells) => ({ sync: cells[1], status: cells[2], type: cells[3], key: cells[5], topic: cells[6], partition: cells[7], offset: cells[8] }))
      const inKafka = received.map((m) => ({ key: m.key, topic: m.topic, partition: String(m.partition), offset: m.offset }))
      for (const m of inKafka) {
        const match = onPage.find((r) => r.key === m.key && r.partition === m.partition && r.offset === m.offset)
        assert.ok(match, `message ${JSON.stringify(m)} not on the page: ${JSON.stringify(onPage)}`)
        assert.deepEqual({ sync: match.sync, status: match.status, topic: match.topic }, { sync: table, status: 'sent', topic })
      }
      assert.deepEqual(onPage.map((r) => r.type).sort(), ['added', 'added', 'changed'])

      // everything about one event, with the redacted column masked in the row and the message
      await page.locator('#rows tr').first().click()
      const detail = (await page.locator('#detail').textContent())!
      assert.match(detail, /live again/)
      assert.equal(/(one|two)@example\.com/.test(detail), false, 'a redacted column leaked into the debugger')

      const metrics = await (await fetch(`${daemon.url}/metrics`)).text()
      assert.match(metrics, new RegExp(`rowcast_messages_produced_total\\{sync="${table}",topic="${topic}"\\} 3`))
    } finally {
      await page.close()
      await consumer.stop()
      await daemon.stop()
    }
  })
})
