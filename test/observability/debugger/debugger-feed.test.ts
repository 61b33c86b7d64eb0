import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createDebuggerFeed, debuggerConfigSchema, type DebuggerRecord } from '../../../observability/debugger/debugger-feed.ts'
import { MASK, redactRecord } from '../../../observability/debugger/redact-record.ts'
import { registerSecret } from '../../../core/secrets.ts'
import { Telemetry, type DeliveryRecord } from '../../../core/telemetry.ts'

function record(overrides: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    sync: 'users',
    time: Date.now(),
    type: 'added',
    table: 'public.users',
    key: '42',
    row: { id: 42, name: 'Ada', email_address: 'ada@example.com', phone_number: '+44 20 7946 0000' },
    message: JSON.stringify({ id: 42, contact: { email_address: 'ada@example.com' }, note: 'call +44 20 7946 0000' }),
    topic: 'users',
    partition: 0,
    offset: '7',
    status: 'sent',
    lsn: '0/16B3748',
    ...overrides,
  }
}

describe('redactRecord', () => {
  const columns = new Set(['email_address', 'phone_number'])

  test('masks the listed columns in the row and leaves the others', () => {
    const out = redactRecord(record(), columns)
    assert.deepEqual(out.row, { id: 42, name: 'Ada', email_address: MASK, phone_number: MASK })
  })

  test('masks the columns in a JSON message, by key at any depth and by value in free text', () => {
    const out = redactRecord(record(), columns)
    assert.ok(!out.message!.includes('ada@example.com'), out.message!)
    assert.ok(!out.message!.includes('7946'), out.message!)
    assert.deepEqual(JSON.parse(out.message!), { id: 42, contact: { email_address: MASK }, note: `call ${MASK}` })
  })

  test('masks the values in a non-JSON message, the key, headers and error', () => {
    const out = redactRecord(
      record({ message: 'ada@example.com signed up', key: 'ada@example.com', headers: { who: 'ada@example.com' }, error: 'bad ada@example.com' }),
      columns,
    )
    assert.equal(out.message, `${MASK} signed up`)
    assert.equal(out.key, MASK)
    assert.deepEqual(out.headers, { who: MASK })
    assert.equal(out.error, `bad ${MASK}`)
  })

  test('keeps a message untouched when nothing in it is sensitive', () => {
    const message = '{ "id": 42 }'
    assert.equal(redactRecord(record({ message }), columns).message, message)
  })

  test('scrubs registered secrets from everything shown', () => {
    registerSecret('s3cr3t-token-value')
    const out = redactRecord(
      record({ row: { id: 1, note: 'uses s3cr3t-token-value' }, message: 'x s3cr3t-token-value', error: 'auth s3cr3t-token-value failed' }),
      new Set(),
    )
    assert.equal(JSON.stringify(out).includes('s3cr3t-token-value'), false)
    assert.equal(out.error, 'auth [redacted] failed')
  })
})

describe('createDebuggerFeed', () => {
  test('buffers at most bufferSize records per sync, redacted, and streams new ones to subscribers', () => {
    const telemetry = new Telemetry()
    assert.equal(telemetry.wantsRecords, false)
    const feed = createDebuggerFeed({ config: { redact: ['email_address'], bufferSize: 3 }, telemetry })
    assert.equal(telemetry.wantsRecords, true)
    const live: DebuggerRecord[] = []
    const unsubscribe = feed.subscribe((r) => live.push(r))
    for (let i = 0; i < 5; i++) telemetry.emit('record', record({ key: String(i) }))
    telemetry.emit('record', record({ sync: 'orders', key: 'o1' }))
    const snapshot = feed.snapshot()
    assert.deepEqual(snapshot.map((r) => `${r.sync}:${r.key}`), ['users:2', 'users:3', 'users:4', 'orders:o1'])
    assert.ok(snapshot.every((r) => r.row!.email_address === MASK))
    assert.equal(live.length, 6)
    assert.equal(new Set(live.map((r) => r.id)).size, 6)
    unsubscribe()
    telemetry.emit('record', record())
    assert.equal(live.length, 6)
    feed.close()
    assert.equal(telemetry.wantsRecords, false)
  })

  test('buffers within bufferBytes per sync: rows of 1 MB keep only a few, small rows still many', () => {
    const telemetry = new Telemetry()
    const feed = createDebuggerFeed({ config: { redact: [], bufferSize: 500, bufferBytes: 4 * 1024 * 1024 }, telemetry })
    const big = 'x'.repeat(1_000_000)
    for (let i = 0; i < 50; i++) telemetry.emit('record', record({ key: `big${i}`, row: { id: i, doc: big }, message: big }))
    const kept = feed.snapshot()
    assert.ok(kept.length >= 1 && kept.length <= 2, `${kept.length} records of ~2 MB each within 4 MiB`)
    assert.equal(kept.at(-1)?.key, 'big49')
    for (let i = 0; i < 600; i++) telemetry.emit('record', record({ key: `s${i}` }))
    assert.equal(feed.snapshot().length, 500)
    feed.close()
  })

  test('config schema: defaults and strictness', () => {
    assert.deepEqual(debuggerConfigSchema.parse({}), { redact: [], bufferSize: 500, bufferBytes: 4 * 1024 * 1024 })
    assert.equal(debuggerConfigSchema.safeParse({ bufferBytes: 1_000 }).success, false)
    assert.equal(debuggerConfigSchema.safeParse({ bufferSize: 0 }).success, false)
    assert.equal(debuggerConfigSchema.safeParse({ buffer_size: 10 }).success, false)
  })
})
