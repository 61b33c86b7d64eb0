/**
 * Snapshot beside the stream: the chunked snapshot (`initialSync: backfill`) of a filled table while a
 * writer commits a steady rate of changes. Rows/s of the snapshot (from its first message to its last, by
 * the broker's append times) beside the bare cursor read and the sink ceiling (a bare kafkajs producer on
 * messages of the same shape); p50/p99/max commit → ack latency of the writer's changes while the snapshot
 * runs (as latency.ts measures it); rowcast's peak RSS.
 */
import { tmpdir } from 'node:os'
import { parseConfig } from '../config/load-config.ts'
import type { BenchContext } from './context.ts'
import { bareCursorRead, bareKafkaProducer, type RateResult } from './ceilings.ts'
import { sinkMessages } from './catch-up.ts'
import { consumeTimestamps, createTopics } from './kafka-watch.ts'
import { quantile } from './report.ts'
import { rowcastYaml } from './rowcast-config.ts'
import { startRowcast, type Footprint } from './rowcast-process.ts'
import { createTable, fillTable, withClient, writeSteadily } from './workload.ts'
import { freePort, waitReady } from './latency.ts'

export interface SnapshotBenchResult {
  rows: number
  /** snapshot.parallelism as run (1 where this build has no such setting: `parallelismSetting` false). */
  parallelism: number
  parallelismSetting: boolean
  chunkRows: number
  /** From the first snapshot message to the last (broker append times). */
  seconds: number
  perSecond: number
  /** What rowcast's /status said at the end (rows per second since the daemon started the snapshot). */
  statusRowsPerSecond: number | null
  cursorRead: RateResult
  sink: RateResult
  writer: { targetRate: number; achievedRate: number; changes: number; transactions: number; received: number }
  p50Ms: number
  p99Ms: number
  maxMs: number
  footprint: Footprint | null
}

const CHUNK_ROWS = 2_000 // the default snapshot.chunkRows
const SINK_SAMPLE = 200_000

export async function snapshotRun(ctx: BenchContext, suffix: string, rows: number, rate: number, parallelism: number, log: (line: string) => void): Promise<SnapshotBenchResult> {
  const { env, prefix, created } = ctx
  const name = `${prefix}_snap${suffix}`
  log(`snapshot: filling a table with ${rows.toLocaleString('en-US')} rows…`)
  await withClient(env.ROWCAST_PG_URL, async (client) => {
    await createTable(client, name)
    created.tables.push(name)
    await fillTable(client, name, rows, `${prefix}_t`)
  })
  const cursorRead = await bareCursorRead(env.ROWCAST_PG_URL, name)
  log(`  bare cursor read: ${Math.round(cursorRead.perSecond).toLocaleString('en-US')} rows/s`)
  const sinkTopic = `${name}_sink`
  created.topics.push(sinkTopic)
  await createTopics(ctx.admin, [sinkTopic])
  const sink = await bareKafkaProducer(ctx.kafka, sinkTopic, sinkMessages({ inserts: Math.min(rows, SINK_SAMPLE), updates: 0, deletes: 0 }), 5_000)
  log(`  sink ceiling (bare kafkajs producer, ${Math.min(rows, SINK_SAMPLE).toLocaleString('en-US')} messages): ${Math.round(sink.perSecond).toLocaleString('en-US')} msg/s`)

  created.topics.push(name) // first: a create that times out may still have created it
  await createTopics(ctx.admin, [name], [{ name: 'message.timestamp.type', value: 'LogAppendTime' }])
  created.slots.push(name)
  created.syncs.push(name)
  const port = await freePort()
  const spec = { name, table: name, slot: name, topic: name, mode: 'mapping' as const, initialSync: 'backfill' as const, httpPort: port }
  const withParallelism = rowcastYaml(env, { ...spec, snapshot: { chunkRows: CHUNK_ROWS, parallelism } })
  const parallelismSetting = parallelism > 1 && accepts(withParallelism)
  if (parallelism > 1 && !parallelismSetting) log(`  snapshot.parallelism is not a setting of this build: running with parallelism 1 (asked for ${parallelism})`)
  const configYaml = parallelismSetting ? withParallelism : rowcastYaml(env, { ...spec, snapshot: { chunkRows: CHUNK_ROWS } })

  // A writer's row (plan tx<seq>) reaches Kafka first from the stream; when a later chunk reads it, again
  // from the snapshot: the first arrival of (id, seq) is the change, a later one a snapshot row.
  const writes = new Map<string, [number, number]>() // `${id}:${seq}` -> [transaction seq, broker append time]
  let snapshotCount = 0
  let firstSnapshotAt = Infinity
  let lastSnapshotAt = 0
  const consumer = await consumeTimestamps(ctx.kafka, name, `${name}_consumer`, (value, timestampMs) => {
    const seq = /"plan":"tx(\d+)"/.exec(value)?.[1]
    if (seq !== undefined) {
      const change = `${/"id":(-?\d+)/.exec(value)?.[1]}:${seq}`
      if (!writes.has(change)) {
        writes.set(change, [Number(seq), timestampMs])
        return
      }
    }
    snapshotCount++
    if (timestampMs < firstSnapshotAt) firstSnapshotAt = timestampMs
    if (timestampMs > lastSnapshotAt) lastSnapshotAt = timestampMs
  })
  const child = startRowcast({ configYaml, workDir: ctx.workDir, name })
  created.processes.push(child)
  try {
    await waitReady(`http://127.0.0.1:${port}/readyz`, 60_000)
    log(`snapshot: ${rows.toLocaleString('en-US')} rows (chunks of ${CHUNK_ROWS}, parallelism ${parallelismSetting ? parallelism : 1}) beside a writer at ${rate} changes/s…`)
    let status: { running: boolean; rowsDone: number; rowsPerSecond: number | null } | null = null
    let snapshotDone = false
    const watching = (async () => {
      const deadline = Date.now() + 1_800_000
      while (!snapshotDone && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250))
        status = await fetch(`http://127.0.0.1:${port}/status`)
          .then(async (r) => ((await r.json()) as { syncs: Record<string, { snapshot: typeof status }> }).syncs[name]?.snapshot ?? null, () => status)
        if (status !== null && !status.running && status.rowsDone > 0) snapshotDone = true
        if (child.footprint() === null) throw new Error(`rowcast exited during the snapshot (log: ${ctx.workDir}/${name}.log)`)
      }
      if (!snapshotDone) throw new Error('the snapshot did not finish within 30 min')
    })()
    // The writer's rows get negative ids, before the table's: the snapshot (in key order, already under way)
    // has passed them, so its inserts and updates are the stream's alone and the table it reads stays at
    // `rows` (new ids after the table's would make it chase a growing end: 2,500 inserts/s at 5,000/s).
    const written = await withClient(env.ROWCAST_PG_URL, (client) => writeSteadily(client, name, `${prefix}_t`, rate, 1_800, { firstId: -1_000_000_000, stop: () => snapshotDone }))
    await watching
    const footprint = child.footprint()
    const deadline = Date.now() + 60_000
    const final = status as { rowsDone: number; rowsPerSecond: number | null } | null
    const snapshotRows = final?.rowsDone ?? rows
    while ((writes.size < written.changes || snapshotCount < snapshotRows) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    const latencies = [...writes.values()].map(([seq, at]) => at - (written.commitTimes.get(seq) ?? NaN)).filter((ms) => Number.isFinite(ms)).sort((a, b) => a - b)
    await child.stop()
    const seconds = (lastSnapshotAt - firstSnapshotAt) / 1000
    return {
      rows: snapshotCount,
      parallelism: parallelismSetting ? parallelism : 1,
      parallelismSetting,
      chunkRows: CHUNK_ROWS,
      seconds,
      perSecond: snapshotCount / seconds,
      statusRowsPerSecond: final?.rowsPerSecond ?? null,
      cursorRead,
      sink,
      writer: { targetRate: rate, achievedRate: written.changes / written.seconds, changes: written.changes, transactions: written.transactions, received: writes.size },
      p50Ms: quantile(latencies, 0.5),
      p99Ms: quantile(latencies, 0.99),
      maxMs: latencies.at(-1) ?? NaN,
      footprint,
    }
  } finally {
    await consumer.stop().catch(() => undefined)
    await child.stop(10_000)
  }
}

/** Whether this build's config schema takes the YAML (snapshot.parallelism exists on some branches only). */
function accepts(yaml: string): boolean {
  try {
    parseConfig(yaml, tmpdir())
    return true
  } catch {
    return false
  }
}
