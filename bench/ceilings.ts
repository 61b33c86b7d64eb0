/**
 * Ceilings measured on the same data, without rowcast: a bare pgoutput reader (pg-logical-replication),
 * a bare kafkajs producer, Kafka's own ProducerPerformance, and a bare cursor read of a table.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication'
import type { Kafka, Message } from 'kafkajs'
import { withClient } from './workload.ts'

export interface RateResult {
  count: number
  seconds: number
  perSecond: number
}

function rate(count: number, seconds: number): RateResult {
  return { count, seconds, perSecond: count / seconds }
}

/**
 * Reads the slot from its start, decoding pgoutput (values parsed by the library), counting row changes
 * and acknowledging once per transaction, until `expected` rows were seen.
 */
export async function bareSourceReader(url: string, slot: string, publication: string, expected: number, timeoutMs = 600_000): Promise<RateResult & { transactions: number }> {
  const service = new LogicalReplicationService({ connectionString: url }, { acknowledge: { auto: false, timeoutSeconds: 0 } })
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] })
  let rows = 0
  let transactions = 0
  const started = performance.now()
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`source ceiling: ${rows}/${expected} rows after ${timeoutMs / 1000} s`)), timeoutMs)
      service.on('data', (lsn: string, message: Pgoutput.Message) => {
        switch (message.tag) {
          case 'insert':
          case 'update':
          case 'delete':
            rows++
            return
          case 'commit':
            transactions++
            void service.acknowledge(message.commitEndLsn ?? lsn)
            if (rows >= expected) {
              clearTimeout(timer)
              resolve({ ...rate(rows, (performance.now() - started) / 1000), transactions })
            }
            return
          default:
            return
        }
      })
      service.on('error', (error: Error) => reject(error))
      service.subscribe(plugin, slot).catch(reject)
    })
  } finally {
    await service.destroy().catch(() => undefined)
  }
}

/**
 * The two bare halves in one process, as the fairest ceiling for rowcast on one event loop: decode pgoutput,
 * turn each row into the mapping mode's JSON (keyed by id), send 5,000 messages per request with one request
 * in flight (acks=all), and acknowledge each commit once everything before it is acked. No backpressure,
 * no checks, no metrics: what is left is the cost of the two libraries.
 */
export async function bareRelay(url: string, slot: string, publication: string, kafka: Kafka, topic: string, expected: number, toValue: (row: Record<string, unknown>) => string): Promise<RateResult> {
  const service = new LogicalReplicationService({ connectionString: url }, { acknowledge: { auto: false, timeoutSeconds: 0 } })
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] })
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const started = performance.now()
  let pending: Message[] = []
  let pendingLsn: string | null = null
  let sending = false
  let acked = 0
  try {
    return await new Promise<RateResult>((resolve, reject) => {
      const flush = () => {
        if (sending || pending.length === 0) return
        const batch = pending.slice(0, 5_000)
        pending = pending.slice(batch.length)
        const lsn = pending.length === 0 ? pendingLsn : null
        sending = true
        producer.sendBatch({ topicMessages: [{ topic, messages: batch }], acks: -1 }).then(() => {
          sending = false
          acked += batch.length
          if (lsn !== null) void service.acknowledge(lsn)
          if (acked >= expected) resolve(rate(acked, (performance.now() - started) / 1000))
          else flush()
        }, reject)
      }
      service.on('data', (lsn: string, message: Pgoutput.Message) => {
        switch (message.tag) {
          case 'insert':
          case 'update':
            pending.push({ key: String(message.new.id), value: toValue(message.new) })
            return
          case 'delete': {
            const row: Record<string, unknown> = message.old ?? message.key ?? {}
            pending.push({ key: String(row.id), value: toValue(row) })
            return
          }
          case 'commit':
            pendingLsn = message.commitEndLsn ?? lsn
            flush()
            return
          default:
            return
        }
      })
      service.on('error', (error: Error) => reject(error))
      service.subscribe(plugin, slot).catch(reject)
    })
  } finally {
    await service.destroy().catch(() => undefined)
    await producer.disconnect().catch(() => undefined)
  }
}

/** Sends `messages` with kafkajs sendBatch in chunks of `chunk`, acks=all, one request at a time. */
/**
 * The sink ceiling: stock kafkajs, sendBatch after sendBatch (acks=all), at the best of a few batch sizes:
 * its grouping of messages per partition is quadratic in the batch, so the largest batch is not the fastest.
 */
export async function bestBareKafkaProducer(kafka: Kafka, topicFor: (chunk: number) => Promise<string>, messages: readonly Message[]): Promise<RateResult & { chunk: number }> {
  let best: (RateResult & { chunk: number }) | null = null
  for (const chunk of [2_500, 5_000, 10_000]) {
    const result = await bareKafkaProducer(kafka, await topicFor(chunk), messages, chunk)
    if (best === null || result.perSecond > best.perSecond) best = { ...result, chunk }
  }
  return best as RateResult & { chunk: number }
}

export async function bareKafkaProducer(kafka: Kafka, topic: string, messages: readonly Message[], chunk = 10_000): Promise<RateResult> {
  const producer = kafka.producer({ allowAutoTopicCreation: false })
  await producer.connect()
  try {
    const started = performance.now()
    for (let i = 0; i < messages.length; i += chunk) {
      await producer.sendBatch({ topicMessages: [{ topic, messages: messages.slice(i, i + chunk) }], acks: -1 })
    }
    return rate(messages.length, (performance.now() - started) / 1000)
  } finally {
    await producer.disconnect()
  }
}

export interface ProducerPerformanceResult extends RateResult {
  mbPerSecond: number
  avgLatencyMs: number
  maxLatencyMs: number
  p50Ms: number
  p99Ms: number
  raw: string
}

/** Kafka's own org.apache.kafka.tools.ProducerPerformance (Java client), acks=all. */
export function producerPerformance(kafkaLib: string, bootstrap: string, topic: string, records: number, recordSize: number, throughput = -1): Promise<ProducerPerformanceResult> {
  const args = [
    '-Xmx512m', '-cp', join(kafkaLib, '*'), 'org.apache.kafka.tools.ProducerPerformance',
    '--topic', topic, '--num-records', String(records), '--record-size', String(recordSize), '--throughput', String(throughput),
    '--producer-props', `bootstrap.servers=${bootstrap}`, 'acks=all',
  ]
  return new Promise((resolve, reject) => {
    execFile('java', args, { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      // The summary: "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, ..."
      const summary = stdout.split('\n').reverse().find((line) => /records sent.*50th/.test(line))
      if (summary === undefined) {
        reject(new Error(`ProducerPerformance failed: ${error?.message ?? ''}\n${stderr.slice(-2000)}\n${stdout.slice(-2000)}`))
        return
      }
      const num = (re: RegExp) => Number(re.exec(summary)?.[1] ?? NaN)
      resolve({
        count: num(/^(\d+) records sent/),
        seconds: num(/^(\d+) records sent/) / num(/([\d.]+) records\/sec/),
        perSecond: num(/([\d.]+) records\/sec/),
        mbPerSecond: num(/\(([\d.]+) MB\/sec\)/),
        avgLatencyMs: num(/([\d.]+) ms avg latency/),
        maxLatencyMs: num(/([\d.]+) ms max latency/),
        p50Ms: num(/(\d+) ms 50th/),
        p99Ms: num(/(\d+) ms 99th/),
        raw: summary.trim(),
      })
    })
  })
}

/** Reads every row of `table` through a cursor, FETCH 1000 at a time, values as text (like the backfill). */
export async function bareCursorRead(url: string, table: string): Promise<RateResult> {
  return withClient(url, async (client) => {
    const raw = { getTypeParser: () => (text: string) => text }
    const started = performance.now()
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    await client.query(`DECLARE bench_cursor NO SCROLL CURSOR FOR SELECT * FROM ${table}`)
    let rows = 0
    for (;;) {
      const result = await client.query({ text: 'FETCH 1000 FROM bench_cursor', types: raw })
      if (result.rows.length === 0) break
      rows += result.rows.length
    }
    await client.query('COMMIT')
    return rate(rows, (performance.now() - started) / 1000)
  })
}
