import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Admin, Kafka } from 'kafkajs'
import { openKafkaSink, DEFAULT_SINK_LIMITS, type KafkaSink, type KafkaSinkOptions, type SinkLimits } from '../../../connectors/kafka/sink.ts'
import { decodeProgress, encodeProgress, progressAfter, readProgress, skipCount } from '../../../connectors/kafka/exactly-once.ts'
import type { SinkEvents } from '../../../core/contracts.ts'
import type { Batch, OutgoingMessage } from '../../../core/changes.ts'
import { createLogger } from '../../../core/logger.ts'
import type { StackEnv } from '../../../scripts/stack-env.ts'
import { consume, createTopics, eventually, kafkaClient, stack, uniqueName } from '../../support/harness.ts'

/** The sink's ordering, backpressure and exactly-once bookkeeping: pure parts alone, the rest against the real Kafka. */

describe('exactly-once bookkeeping (pure)', () => {
  const entry = (messages: number, commitLsn: bigint | null, txLsn: bigint | null, txOffset = 0) => ({ messages: new Array<OutgoingMessage>(messages), commitLsn, txLsn, txOffset })

  test('progressAfter: a completed transaction moves the LSN; stopping inside one records how many of its messages are in', () => {
    const start = { lsn: 100n, partial: null }
    assert.equal(progressAfter(start, []), null)
    assert.deepEqual(progressAfter(start, [{ entry: entry(3, 210n, 200n), to: 3 }]), { lsn: 210n, partial: null })
    assert.deepEqual(progressAfter(start, [{ entry: entry(3, 210n, 200n), to: 3 }, { entry: entry(5, null, 300n), to: 2 }]), { lsn: 210n, partial: { txLsn: 300n, messages: 2 } })
    // A later chunk of the same transaction: counted from the chunk's offset in the transaction.
    assert.deepEqual(progressAfter({ lsn: 210n, partial: { txLsn: 300n, messages: 5 } }, [{ entry: entry(5, null, 300n, 5), to: 5 }]), { lsn: 210n, partial: { txLsn: 300n, messages: 10 } })
    assert.deepEqual(progressAfter({ lsn: 210n, partial: { txLsn: 300n, messages: 10 } }, [{ entry: entry(4, 320n, 300n, 10), to: 4 }]), { lsn: 320n, partial: null })
    // Backfill batches (no transaction) change nothing.
    assert.equal(progressAfter(start, [{ entry: entry(4, null, null), to: 4 }]), null)
  })

  test('skipCount: whole transactions before the progress LSN, the recorded prefix of the partial one, nothing else', () => {
    const resume = { lsn: 500n, partial: { txLsn: 600n, messages: 25 } }
    assert.equal(skipCount(400n, 0, 10, resume), 10, 'commits before the recorded end: all of it')
    assert.equal(skipCount(600n, 0, 10, resume), 10)
    assert.equal(skipCount(600n, 10, 10, resume), 10)
    assert.equal(skipCount(600n, 20, 10, resume), 5)
    assert.equal(skipCount(600n, 30, 10, resume), 0)
    assert.equal(skipCount(700n, 0, 10, resume), 0, 'a later transaction: nothing')
    assert.equal(skipCount(500n, 0, 10, { lsn: 500n, partial: null }), 0, 'a transaction whose commit starts at the recorded end is new')
  })

  test('progress records round-trip', () => {
    for (const p of [{ lsn: 0x1_0000_00ffn, partial: null }, { lsn: 5n, partial: { txLsn: 0x2_0000_0010n, messages: 1234 } }]) {
      assert.deepEqual(decodeProgress(encodeProgress('s', p)), p)
    }
  })
})

describe('KafkaSink against the real Kafka', () => {
  let env: StackEnv
  let kafka: Kafka
  let admin: Admin
  const logger = createLogger({ level: 'silent' })
  before(async () => {
    env = await stack()
    kafka = kafkaClient(env)
    admin = kafka.admin()
    await admin.connect()
  })
  after(async () => {
    await admin.disconnect()
  })

  function recorder(): { events: SinkEvents; acks: [number, number][]; pressure: boolean[]; fatal: Error[] } {
    const acks: [number, number][] = []
    const pressure: boolean[] = []
    const fatal: Error[] = []
    return {
      acks,
      pressure,
      fatal,
      events: {
        acknowledged: (ticket, count) => void acks.push([ticket, count]),
        pressure: (paused) => void pressure.push(paused),
        rowError: () => undefined,
        delivered: () => undefined,
        degraded: () => undefined,
        fatal: (error) => void fatal.push(error),
      },
    }
  }

  function batch(topic: string, keys: string[], first: number, commitLsn: bigint | null): Batch<OutgoingMessage> {
    const items = keys.map((key, i) => ({
      change: { type: 'added' as const, table: 't', row: {}, previous: null, key, lsn: '0/0' },
      value: JSON.stringify({ key, seq: first + i }),
      topic,
      key,
      partition: null,
      headers: null,
    }))
    return { items, commitLsn, commitTime: Date.now(), txId: 1 }
  }

  async function withSink<T>(limits: Partial<SinkLimits>, events: SinkEvents, run: (sink: KafkaSink) => Promise<T>, exactlyOnce?: KafkaSinkOptions['exactlyOnce']): Promise<T> {
    const sink = await openKafkaSink({ kafka, limits: { ...DEFAULT_SINK_LIMITS, ...limits }, events, logger, ...(exactlyOnce === undefined ? {} : { exactlyOnce }) })
    try {
      return await run(sink)
    } finally {
      await sink.close()
    }
  }

  test('per key order holds across many small requests; acknowledgements come in ticket order', { timeout: 60_000 }, async () => {
    const topic = uniqueName('sink_order')
    await createTopics(env, [topic], 3)
    const r = recorder()
    const keys = ['a', 'b', 'c', 'd', 'e']
    await withSink({ maxRequestMessages: 7 }, r.events, async (sink) => {
      for (let i = 0; i < 40; i++) sink.enqueue(batch(topic, [...keys, ...keys], i * 10, BigInt(i + 1)), i)
      await sink.drain()
    })
    assert.deepEqual(r.fatal, [])
    const tickets = r.acks.map(([t]) => t)
    assert.deepEqual(tickets, [...tickets].sort((x, y) => x - y), 'acknowledged in queue order')
    assert.equal(r.acks.reduce((n, [, c]) => n + c, 0), 400)
    const consumer = await consume(env, [topic])
    try {
      const messages = await consumer.waitFor(400)
      const perKey = new Map<string, number[]>()
      for (const m of [...messages].sort((x, y) => x.partition - y.partition || Number(x.offset) - Number(y.offset))) {
        const { key, seq } = JSON.parse(m.value) as { key: string; seq: number }
        perKey.set(key, [...(perKey.get(key) ?? []), seq])
      }
      for (const [key, seqs] of perKey) assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), `key ${key} in order`)
      assert.equal(messages.length, 400)
    } finally {
      await consumer.stop()
    }
  })

  test('backpressure: pressure(true) as soon as the in-flight bound is reached, pressure(false) once below half', { timeout: 60_000 }, async () => {
    const topic = uniqueName('sink_pressure')
    await createTopics(env, [topic], 1)
    const r = recorder()
    await withSink({ maxInFlightMessages: 100 }, r.events, async (sink) => {
      for (let i = 0; i < 9; i++) sink.enqueue(batch(topic, new Array(10).fill('k'), i * 10, BigInt(i + 1)), i)
      assert.deepEqual(r.pressure, [], 'under the bound: no pressure')
      sink.enqueue(batch(topic, new Array(10).fill('k'), 90, 10n), 9)
      assert.deepEqual(r.pressure, [true], 'enqueue is synchronous: the bound is reported at once')
      assert.equal(sink.inFlight.messages, 100)
      await sink.drain()
      assert.deepEqual(r.pressure, [true, false])
      assert.equal(sink.inFlight.messages, 0)
      assert.equal(sink.inFlight.bytes, 0)
    })
  })

  test('exactly-once resume: skips what the progress says is committed, also inside a split transaction, and records the end', { timeout: 60_000 }, async () => {
    const topic = uniqueName('sink_eos')
    const progressTopic = uniqueName('sink_eos_progress')
    await createTopics(env, [topic], 2)
    await createTopics(env, [progressTopic], 1)
    const r = recorder()
    // Committed earlier: everything through LSN 500, and 25 messages of the transaction committing at 600.
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: progressTopic, acks: -1, messages: [{ key: 'sync_a', value: encodeProgress('sync_a', { lsn: 500n, partial: { txLsn: 600n, messages: 25 } }) }] })
    await producer.disconnect()
    // 25 per request: one preparation round covers several entries, the first of which is skipped whole.
    await withSink({ maxRequestMessages: 25 }, r.events, async (sink) => {
      sink.enqueue(batch(topic, new Array(10).fill('old'), 0, 480n), 0, 400n) // before the progress LSN
      sink.enqueue(batch(topic, new Array(10).fill('tx'), 0, null), 1, 600n) // 0..9: committed
      sink.enqueue(batch(topic, new Array(10).fill('tx'), 10, null), 2, 600n) // 10..19: committed
      sink.enqueue(batch(topic, new Array(10).fill('tx'), 20, 640n), 3, 600n) // 20..24 committed, 25..29 new
      sink.enqueue(batch(topic, new Array(3).fill('next'), 0, 700n), 4, 690n)
      await sink.drain()
    }, { transactionalId: uniqueName('rowcast-test-tx'), progressTopic, progressKey: 'sync_a' })
    assert.deepEqual(r.fatal, [])
    assert.equal(r.acks.reduce((n, [, c]) => n + c, 0), 43, 'every message is acknowledged, sent or skipped')
    const consumer = await consume(env, [topic], { readCommitted: true })
    try {
      await consumer.waitFor(8)
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      const sent = consumer.messages.map((m) => JSON.parse(m.value) as { key: string; seq: number }).sort((a, b) => a.key.localeCompare(b.key) || a.seq - b.seq)
      assert.deepEqual(sent.map((m) => `${m.key}${m.seq}`), ['next0', 'next1', 'next2', 'tx25', 'tx26', 'tx27', 'tx28', 'tx29'])
    } finally {
      await consumer.stop()
    }
    // The log ends in a transaction marker, which no consumer sees as a message: reading stops at the end anyway.
    const started = Date.now()
    assert.deepEqual(await readProgress(kafka, progressTopic, 'sync_a'), { lsn: 700n, partial: null }, 'the last transaction committed its end')
    assert.ok(Date.now() - started < 5_000, `readProgress took ${Date.now() - started} ms: it must not wait for a timeout`)
  })

  test('a request that fails is retried, its messages reported as retrying, and nothing is lost', { timeout: 90_000 }, async () => {
    const topic = uniqueName('sink_retry')
    await createTopics(env, [topic], 1)
    const r = recorder()
    const retrying: { count: number; code: string }[] = []
    const events: SinkEvents = { ...r.events, retrying: (messages, error) => void retrying.push({ count: messages.length, code: error.code }) }
    await withSink({ retryInitialMs: 500 }, events, async (sink) => {
      sink.enqueue(batch(topic, ['a'], 0, 1n), 0)
      await sink.drain() // the topic's metadata is cached now
      await admin.deleteTopics({ topics: [topic] })
      sink.enqueue(batch(topic, ['a', 'b'], 1, 2n), 1)
      await eventually(() => retrying.length, (n) => n > 0, 60_000, 'a failed request')
      await createTopics(env, [topic], 1)
      await sink.drain()
    })
    assert.deepEqual(r.fatal, [])
    assert.ok(retrying.every((x) => x.count === 2 && x.code === 'KAFKA_TOPIC_MISSING'), JSON.stringify(retrying))
    assert.deepEqual(r.acks, [[0, 1], [1, 2]])
    const consumer = await consume(env, [topic])
    try {
      const messages = await consumer.waitFor(2)
      assert.deepEqual(messages.map((m) => JSON.parse(m.value).seq), [1, 2], 'the recreated topic holds the retried messages')
    } finally {
      await consumer.stop()
    }
  })
})
