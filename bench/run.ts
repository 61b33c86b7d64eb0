/**
 * `npm run bench [-- --quick] [--profile] [--only=catch-up,latency,backfill,snapshot]`: starts the stack and measures
 * rowcast beside ceilings on the same data (see bench/README.md); prints a table and writes
 * bench/results/<timestamp>.json.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { ensureStack, repoRoot } from '../scripts/stack-env.ts'
import { backfillRun, type BackfillResult } from './backfill.ts'
import { catchUp, type CatchUpResult, type RunSpec } from './catch-up.ts'
import { Created, freeSlots, measureStable, type BenchContext } from './context.ts'
import { kafkaFor } from './kafka-watch.ts'
import { latency, type LatencyResult } from './latency.ts'
import { snapshotRun, type SnapshotBenchResult } from './snapshot.ts'
import { formatProfile } from './profile-summary.ts'
import { formatTable, type ReportRow } from './report.ts'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const profile = args.includes('--profile')
const keepLogs = args.includes('--keep-logs')
const ceilings = !args.includes('--no-ceilings')
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? ['catch-up', 'latency', 'backfill', 'snapshot']
const numberArg = (name: string, fallback: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback)
const params = {
  changes: numberArg('changes', quick ? 100_000 : 1_000_000),
  latencyRate: numberArg('rate', 5_000),
  latencySeconds: numberArg('latency-seconds', quick ? 15 : 60),
  backfillRows: numberArg('backfill-rows', quick ? 100_000 : 1_000_000),
  snapshotRows: numberArg('snapshot-rows', quick ? 100_000 : 1_000_000),
  snapshotParallelism: numberArg('snapshot-parallelism', 2),
  pauseKafkaMs: 10_000,
}
const RUNS: RunSpec[] = [
  { key: 'mapping', mode: 'mapping' },
  { key: 'template', mode: 'template' },
  { key: 'column', mode: 'column' },
  { key: 'topic_column', mode: 'mapping', topicColumn: true },
  { key: 'kafka_paused', mode: 'mapping', pauseKafkaMs: params.pauseKafkaMs },
  ...(profile ? [{ key: 'profiled', mode: 'mapping' as const, profile: true }] : []),
]

const runFilter = args.find((a) => a.startsWith('--runs='))?.slice('--runs='.length).split(',')
const selected = runFilter === undefined ? RUNS : RUNS.filter((r) => runFilter.includes(r.key))
/** `--repeat=N` runs each selected rowcast run N times in turn (A/B experiments on a noisy machine). */
const runs = Array.from({ length: numberArg('repeat', 1) }, (_, i) => selected.map((r) => (i === 0 ? r : { ...r, key: `${r.key}_${i + 1}` }))).flat()
const log = (line: string) => process.stderr.write(`${line}\n`)
const startedAt = new Date()
const resultsDir = join(repoRoot, 'bench', 'results')
mkdirSync(resultsDir, { recursive: true })

const env = await ensureStack()
const kafka = kafkaFor(env.KAFKA_BOOTSTRAP_PLAINTEXT)
const admin = kafka.admin()
await admin.connect()
const ctx: BenchContext = { env, kafka, admin, prefix: `bench_${randomBytes(4).toString('hex')}`, workDir: mkdtempSync(join(tmpdir(), 'rowcast-bench-')), created: new Created() }
const loadBefore = loadavg()
log(`rowcast bench ${quick ? '(quick) ' : ''}${JSON.stringify(params)}; names ${ctx.prefix}_*; logs in ${ctx.workDir}`)

const slots = await freeSlots(ctx)
if (slots.free < 3) log(`warning: only ${slots.free} replication slots free (${slots.inactive} inactive slots hold WAL); the bench needs 1 at a time`)
let catchUpResult: CatchUpResult | undefined
let latencyResult: LatencyResult | undefined
let backfillResult: BackfillResult | undefined
let snapshotResult: SnapshotBenchResult | undefined
let failure: unknown
const stopOnSignal = () => void ctx.created.dropAll(ctx).finally(() => process.exit(130))
process.once('SIGINT', stopOnSignal)
try {
  if (only.includes('catch-up')) {
    catchUpResult = await catchUp(ctx, params.changes, runs, resultsDir, log, ceilings)
    if (catchUpResult.failures.length > 0) failure = new Error(catchUpResult.failures.join('; '))
  }
  if (only.includes('latency')) latencyResult = (await measureStable(ctx, 'latency', log, (suffix) => latency(ctx, suffix, params.latencyRate, params.latencySeconds, log))).value
  if (only.includes('backfill')) backfillResult = (await measureStable(ctx, 'backfill', log, (suffix) => backfillRun(ctx, suffix, params.backfillRows, log))).value
  if (only.includes('snapshot')) snapshotResult = (await measureStable(ctx, 'snapshot', log, (suffix) => snapshotRun(ctx, suffix, params.snapshotRows, params.latencyRate, params.snapshotParallelism, log))).value
} catch (error) {
  failure = error
  log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
} finally {
  await ctx.created.dropAll(ctx).catch((error: unknown) => log(`cleanup failed: ${String(error)}`))
  await admin.disconnect()
}

const rows = [...reportRows(catchUpResult, latencyResult, backfillResult), ...snapshotRows(snapshotResult, catchUpResult)]
const table = formatTable(rows)
const file = join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`)
const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, kafka: env.KAFKA_VERSION, loadBefore, loadAfter: loadavg() }
writeFileSync(file, `${JSON.stringify({ startedAt, quick, params, machine, table: rows, catchUp: catchUpResult, latency: latencyResult, backfill: backfillResult, snapshot: snapshotResult, error: failure === undefined ? undefined : String(failure) }, null, 2)}\n`)
console.log(`\nrowcast bench — ${startedAt.toISOString()}${quick ? ' (quick)' : ''}; ${machine.cpus} CPUs, load ${loadBefore.map((l) => l.toFixed(1)).join('/')} → ${machine.loadAfter.map((l) => l.toFixed(1)).join('/')}\n`)
console.log(table)
const profiled = catchUpResult?.runs.find((r) => r.profile !== undefined)
if (profiled?.profile !== undefined) console.log(`\n${formatProfile(profiled.profile)}\n(profile: ${profiled.profileFile})`)
console.log(`\nresults: ${file}`)
if (failure === undefined && !keepLogs) rmSync(ctx.workDir, { recursive: true, force: true })
else log(`rowcast configs and logs kept in ${ctx.workDir}`)
if (failure !== undefined) process.exitCode = 1

function reportRows(c: CatchUpResult | undefined, l: LatencyResult | undefined, b: BackfillResult | undefined): ReportRow[] {
  const rows: ReportRow[] = []
  if (c !== undefined) {
    const sourceCeiling = { name: 'bare pgoutput reader', value: c.source.perSecond }
    const sinkCeiling = { name: 'bare kafkajs producer', value: c.sink.perSecond }
    const pipeCeiling = sourceCeiling.value < sinkCeiling.value ? sourceCeiling : sinkCeiling
    rows.push({ measure: `ceiling: source (${c.changes.toLocaleString('en-US')} changes, ${c.transactions} txns)`, value: c.source.perSecond, unit: 'rows/s', note: 'pg-logical-replication, ack per txn' })
    rows.push({ measure: 'ceiling: bare relay pgoutput → kafkajs, one process', value: c.relay.perSecond, unit: 'msg/s', ceiling: pipeCeiling, note: '5k msgs/request, 1 in flight, idempotent' })
    rows.push({ measure: 'ceiling: sink (bare kafkajs sendBatch, acks=all)', value: c.sink.perSecond, unit: 'msg/s', note: `${c.averageMessageBytes} B/msg; best of 2.5k/5k/10k per sendBatch: ${c.sink.chunk ?? '?'}` })
    if (!('error' in c.producerPerformance)) {
      rows.push({ measure: 'reference: Kafka ProducerPerformance (Java)', value: c.producerPerformance.perSecond, unit: 'msg/s', ceiling: sinkCeiling, note: `${c.producerPerformance.mbPerSecond} MB/s` })
    }
    for (const r of c.runs) {
      const label = r.profile !== undefined ? 'rowcast mapping, --cpu-prof' : r.pause !== undefined ? `rowcast mapping, Kafka frozen ${params.pauseKafkaMs / 1000} s` : `rowcast ${r.key.replace('_', ' ')}`
      const unpaused = c.runs.find((u) => u.key === 'mapping')?.peakRssMiB
      const bounded = unpaused === undefined ? '' : r.pause !== undefined && r.peakRssMiB <= unpaused * 1.25 + 32 ? ' (bounded: ≤ unpaused peak +25 %)' : ' (NOT bounded: over unpaused peak +25 %)'
      const pauseNote = r.pause === undefined ? '' : `; RSS peak before pause ${r.pause.peakRssBeforeMiB.toFixed(0)} MiB, during ${r.pause.peakRssDuringMiB.toFixed(0)} MiB${bounded}`
      rows.push({
        measure: `${label} (catch-up)`, value: r.perSecond, unit: 'msg/s', ceiling: { name: 'bare relay', value: c.relay.perSecond },
        peakRssMiB: r.peakRssMiB, cpuSeconds: r.cpuSeconds, note: `${r.cpuMicrosPerMessage.toFixed(0)} µs CPU/msg; startup ${r.startupSeconds.toFixed(1)} s; load ${r.loadAverage.toFixed(1)}${r.brokerRestarted ? '; DISTURBED: broker restarted by another test' : ''}${pauseNote}`,
      })
      // The targets, each on its own line: mapping vs min(source, sink) >= 0.60, template vs mapping >= 0.80.
      if (r.key === 'mapping') rows.push({ measure: '  target: mapping vs min(source, sink) ≥ 0.60', value: r.perSecond, unit: 'msg/s', ceiling: { name: `min(source, sink): ${pipeCeiling.name}`, value: pipeCeiling.value } })
      const mapping = c.runs.find((u) => u.key === 'mapping')
      if (r.key === 'template' && mapping !== undefined) rows.push({ measure: '  target: template vs mapping ≥ 0.80', value: r.perSecond, unit: 'msg/s', ceiling: { name: 'rowcast mapping', value: mapping.perSecond } })
    }
  }
  if (l !== undefined) {
    const floor = 'error' in l.kafkaFloor ? undefined : l.kafkaFloor
    const note = `${Math.round(l.achievedRate)}/s achieved, ${l.transactions} txns, ${l.received}/${l.changes} received`
    rows.push({ measure: `latency p50, commit → ack @ ${l.targetRate}/s for ${l.seconds.toFixed(0)} s`, value: l.p50Ms, unit: 'ms', ...(floor ? { ceiling: { name: 'ProducerPerformance p50 @ same rate', value: floor.p50Ms } } : {}), peakRssMiB: l.footprint?.peakRssMiB, cpuSeconds: l.footprint?.cpuSeconds, note })
    rows.push({ measure: 'latency p99', value: l.p99Ms, unit: 'ms', ...(floor ? { ceiling: { name: 'ProducerPerformance p99 @ same rate', value: floor.p99Ms } } : {}), note: `histogram (/metrics): p50 ≈ ${l.histogramP50Ms.toFixed(0)} ms, p99 ≈ ${l.histogramP99Ms.toFixed(0)} ms` })
    rows.push({ measure: 'latency max', value: l.maxMs, unit: 'ms', ...(floor ? { ceiling: { name: 'ProducerPerformance max @ same rate', value: floor.maxLatencyMs } } : {}) })
  }
  if (b !== undefined) {
    rows.push({ measure: `backfill of ${b.rows.toLocaleString('en-US')} rows`, value: b.perSecond, unit: 'rows/s', ceiling: { name: 'bare cursor read (FETCH 1000)', value: b.cursorRead.perSecond }, peakRssMiB: b.peakRssMiB, cpuSeconds: b.cpuSeconds, note: `startup ${b.startupSeconds.toFixed(1)} s` })
    if (c !== undefined) rows.push({ measure: '  backfill vs sink ceiling', value: b.perSecond, unit: 'rows/s', ceiling: { name: 'bare kafkajs producer', value: c.sink.perSecond } })
  }
  return rows
}

/** The snapshot beside a writer, against the targets: ≥ 70 % of the sink ceiling, live p99 ≤ 100 ms, peak RSS ≤ 200 MB. */
function snapshotRows(r: SnapshotBenchResult | undefined, c: CatchUpResult | undefined): ReportRow[] {
  if (r === undefined) return []
  // The sink ceiling of the catch-up measure when it ran (many message shapes, best of three request sizes), else this run's own.
  const sink = c === undefined ? { name: 'bare kafkajs producer (this run)', value: r.sink.perSecond } : { name: 'bare kafkajs producer', value: c.sink.perSecond }
  const parallelism = r.parallelismSetting ? `parallelism ${r.parallelism}` : 'parallelism 1: no snapshot.parallelism in this build'
  const peak = r.footprint?.peakRssMiB
  return [
    {
      measure: `snapshot of ${r.rows.toLocaleString('en-US')} rows beside a writer @ ${r.writer.targetRate}/s (${parallelism})`, value: r.perSecond, unit: 'rows/s',
      ceiling: { name: 'bare cursor read (FETCH 1000)', value: r.cursorRead.perSecond }, peakRssMiB: peak, cpuSeconds: r.footprint?.cpuSeconds,
      note: `chunks of ${r.chunkRows}; ${r.seconds.toFixed(1)} s first to last snapshot message; /status said ${r.statusRowsPerSecond ?? '?'} rows/s`,
    },
    { measure: '  target: snapshot vs sink ceiling ≥ 0.70', value: r.perSecond, unit: 'rows/s', ceiling: sink },
    {
      measure: '  target: live p99 during the snapshot ≤ 100 ms', value: r.p99Ms, unit: 'ms',
      note: `p50 ${r.p50Ms} ms, max ${r.maxMs} ms; writer ${Math.round(r.writer.achievedRate)}/s achieved, ${r.writer.received}/${r.writer.changes} changes received`,
    },
    { measure: '  target: peak RSS ≤ 200 MB', value: peak === undefined ? NaN : (peak * 1024 * 1024) / 1e6, unit: 'MB', note: `${peak?.toFixed(0) ?? '?'} MiB (VmHWM)` },
  ]
}
