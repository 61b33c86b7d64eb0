/**
 * Latency from PostgreSQL commit to Kafka ack at a steady rate: rows carry their transaction's sequence
 * number (`plan = 'tx<seq>'`), the writer notes when each COMMIT returned, and the topic uses
 * LogAppendTime, so each message's timestamp is the broker's append time (acks=all on one broker: the ack).
 * Cross-checked with rowcast's own rowcast_end_to_end_latency_seconds histogram on /metrics.
 */
import { createServer } from 'node:net'
import type { BenchContext } from './context.ts'
import { producerPerformance, type ProducerPerformanceResult } from './ceilings.ts'
import { consumeTimestamps, createTopics } from './kafka-watch.ts'
import { histogramQuantile, quantile } from './report.ts'
import { rowcastYaml } from './rowcast-config.ts'
import { startRowcast, type Footprint } from './rowcast-process.ts'
import { createTable, withClient, writeSteadily } from './workload.ts'

export interface LatencyResult {
  targetRate: number
  achievedRate: number
  seconds: number
  changes: number
  transactions: number
  received: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** From rowcast's histogram (bucket-interpolated). */
  histogramP50Ms: number
  histogramP99Ms: number
  /** rowcast_kafka_produce_latency_seconds: one produce request, sent → acked. */
  produceP50Ms: number
  produceP99Ms: number
  footprint: Footprint | null
  /** Kafka's ProducerPerformance at the same rate: the produce latency floor. */
  kafkaFloor: ProducerPerformanceResult | { error: string }
  averageMessageBytes: number
}

export async function latency(ctx: BenchContext, suffix: string, rate: number, seconds: number, log: (line: string) => void): Promise<LatencyResult> {
  const { env, prefix, created } = ctx
  const name = `${prefix}_lat${suffix}`
  await withClient(env.ROWCAST_PG_URL, (client) => createTable(client, name))
  created.tables.push(name)
  created.slots.push(name)
  created.syncs.push(name)
  created.topics.push(name) // first: a create that times out may still have created it
  await createTopics(ctx.admin, [name], [{ name: 'message.timestamp.type', value: 'LogAppendTime' }])

  const port = await freePort()
  const child = startRowcast({ configYaml: rowcastYaml(env, { name, table: name, slot: name, topic: name, mode: 'mapping', httpPort: port }), workDir: ctx.workDir, name })
  created.processes.push(child)
  const latencies: number[] = []
  let bytes = 0
  let commitTimes = new Map<number, number>()
  const pending: [number, number][] = [] // [seq, timestamp] of messages seen before their commit time was known
  const consumer = await consumeTimestamps(ctx.kafka, name, `${name}_consumer`, (value, timestampMs) => {
    bytes += Buffer.byteLength(value)
    const seq = Number(/"plan":"tx(\d+)"/.exec(value)?.[1] ?? NaN)
    pending.push([seq, timestampMs])
  })
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`, 60_000)
    log(`latency: writing ${rate} changes/s for ${seconds} s…`)
    const written = await withClient(env.ROWCAST_PG_URL, (client) => writeSteadily(client, name, `${prefix}_t`, rate, seconds))
    commitTimes = written.commitTimes
    const deadline = Date.now() + 60_000
    while (pending.length < written.changes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    for (const [seq, timestampMs] of pending) {
      const committed = commitTimes.get(seq)
      if (committed !== undefined) latencies.push(timestampMs - committed)
    }
    latencies.sort((a, b) => a - b)
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text())
    const footprint = child.footprint()
    await child.stop()
    const averageMessageBytes = Math.round(bytes / Math.max(1, pending.length))
    log(`  p50 ${quantile(latencies, 0.5)} ms, p99 ${quantile(latencies, 0.99)} ms, max ${latencies.at(-1)} ms; Kafka floor at the same rate…`)
    const floorTopic = `${prefix}_latfloor${suffix}`
    created.topics.push(floorTopic)
    await createTopics(ctx.admin, [floorTopic])
    const kafkaFloor = await producerPerformance(env.KAFKA_LIB, env.KAFKA_BOOTSTRAP_PLAINTEXT, floorTopic, rate * Math.min(seconds, 20), averageMessageBytes, rate).catch((error: unknown) => ({ error: String(error) }))
    return {
      targetRate: rate,
      achievedRate: written.changes / written.seconds,
      seconds: written.seconds,
      changes: written.changes,
      transactions: written.transactions,
      received: pending.length,
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxMs: latencies.at(-1) ?? NaN,
      histogramP50Ms: histogramQuantile(metrics, 'rowcast_end_to_end_latency_seconds', name, 0.5) * 1000,
      histogramP99Ms: histogramQuantile(metrics, 'rowcast_end_to_end_latency_seconds', name, 0.99) * 1000,
      produceP50Ms: histogramQuantile(metrics, 'rowcast_kafka_produce_latency_seconds', name, 0.5) * 1000,
      produceP99Ms: histogramQuantile(metrics, 'rowcast_kafka_produce_latency_seconds', name, 0.99) * 1000,
      footprint,
      kafkaFloor,
      averageMessageBytes,
    }
  } finally {
    await consumer.stop().catch(() => undefined)
    await child.stop(10_000)
  }
}

export async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await fetch(url).then((r) => r.ok, () => false)
    if (ok) return
    if (Date.now() > deadline) throw new Error(`rowcast not ready at ${url} after ${timeoutMs / 1000} s`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** A port nobody listens on now (the child binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}
