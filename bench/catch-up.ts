/**
 * Throughput: for each reader (the bare source ceiling, then each rowcast run) a fresh table, publication and
 * slot, then the same workload written while nothing reads it, then the reader started and timed from its
 * first message in Kafka to the last one (end offsets), so it measures the reader, not the writer. One slot
 * at a time: the server's slots are shared with the test suite. One run freezes the broker mid-way.
 */
import { execFile } from 'node:child_process'
import { readdirSync, statSync, mkdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import type { Message } from 'kafkajs'
import { repoRoot } from '../scripts/stack-env.ts'
import { bestBareKafkaProducer, bareRelay, bareSourceReader, producerPerformance, type RateResult, type ProducerPerformanceResult } from './ceilings.ts'
import { brokerPid, measureStable, type BenchContext } from './context.ts'
import { createTopics, watchUntil } from './kafka-watch.ts'
import { MAPPING, rowcastYaml, type MessageMode } from './rowcast-config.ts'
import { startRowcast, type Footprint } from './rowcast-process.ts'
import { summariseProfile, type ProfileSummary } from './profile-summary.ts'
import { TOPIC_COUNT, createPublicationAndSlot, createTable, withClient, workloadShape, writeWorkload } from './workload.ts'

export interface RunSpec {
  key: string
  mode: MessageMode
  topicColumn?: boolean
  /** Freeze the broker (SIGSTOP) for this long once a third of the messages arrived. */
  pauseKafkaMs?: number
  profile?: boolean
}

export interface RunResult {
  key: string
  messages: number
  /** From spawn to the first message in Kafka (process start, compile, connect, first batch). */
  startupSeconds: number
  /** From the first message to the last one. */
  catchUpSeconds: number
  perSecond: number
  peakRssMiB: number
  /** CPU seconds of the catch-up alone (startup excluded), and per message. */
  cpuSeconds: number
  cpuMicrosPerMessage: number
  rssSamples: [number, number][]
  pause?: { fromMs: number; toMs: number; peakRssDuringMiB: number; peakRssBeforeMiB: number }
  profile?: ProfileSummary
  profileFile?: string
  /** Another engineer's fault test restarted the broker during the run: the figure is disturbed. */
  brokerRestarted: boolean
  loadAverage: number
}

export interface CatchUpResult {
  changes: number
  transactions: number
  writeSeconds: number
  source: RateResult & { transactions: number }
  relay: RateResult
  sink: RateResult & { chunk?: number }
  producerPerformance: ProducerPerformanceResult | { error: string }
  averageMessageBytes: number
  runs: RunResult[]
  failures: string[]
}

/** `ceilings: false` (for A/B experiments between rowcast builds or settings) skips the four ceilings. */
export async function catchUp(ctx: BenchContext, changes: number, runs: RunSpec[], resultsDir: string, log: (line: string) => void, ceilings = true): Promise<CatchUpResult> {
  const { env, prefix, created } = ctx
  const topicPrefix = `${prefix}_t`
  const shape = workloadShape(changes)
  let transactions = 0
  let writeSeconds = 0
  /**
   * One table, slot and publication per reader, the workload written after the slot exists and before
   * anything reads it; one slot at a time, as the server's slots are shared with the test suite.
   */
  const prepare = async (name: string, topics = topicPrefix): Promise<void> => {
    await withClient(env.ROWCAST_PG_URL, async (client) => {
      await createTable(client, name)
      created.tables.push(name)
      created.slots.push(name) // before creating: a half-created pair (publication, no slot) is dropped too
      await createPublicationAndSlot(client, name, name)
      const started = performance.now()
      transactions = await writeWorkload(client, name, shape, topics)
      writeSeconds = (performance.now() - started) / 1000
    })
    log(`  ${changes.toLocaleString('en-US')} changes written in ${writeSeconds.toFixed(1)} s (${shape.inserts} inserts, ${shape.updates} updates, ${shape.deletes} deletes; ${transactions} transactions)`)
  }
  const release = async (name: string): Promise<void> => {
    await created.dropSlot(ctx, name)
    await withClient(env.ROWCAST_PG_URL, (client) => client.query(`DROP TABLE IF EXISTS ${name}`))
  }

  const none: RateResult = { count: 0, seconds: 0, perSecond: NaN }
  let source: RateResult & { transactions: number } = { ...none, transactions: 0 }
  let relay: RateResult = none
  let sink: RateResult & { chunk?: number } = none
  let perf: ProducerPerformanceResult | { error: string } = { error: 'not measured' }
  const messages = sinkMessages(shape)
  const averageMessageBytes = Math.round(messages.reduce((n, m) => n + Buffer.byteLength(m.value as string) + Buffer.byteLength(m.key as string), 0) / messages.length)
  if (ceilings) {
    log('source ceiling: bare pg-logical-replication reader…')
    source = await measureStable(ctx, 'source ceiling', log, async (suffix) => {
      const name = `${prefix}_src${suffix}`
      try {
        await prepare(name)
        return await bareSourceReader(env.ROWCAST_PG_URL, name, name, changes)
      } finally {
        await release(name).catch(() => undefined)
      }
    }).then((m) => m.value)
    log(`  ${Math.round(source.perSecond).toLocaleString('en-US')} rows/s`)

    log('source+sink ceiling: bare relay (pgoutput → kafkajs in one process)…')
    relay = await measureStable(ctx, 'relay ceiling', log, async (suffix) => {
      const name = `${prefix}_relay${suffix}`
      try {
        await prepare(name)
        created.topics.push(name) // first: a create that times out may still have created it
        await createTopics(ctx.admin, [name])
        return await bareRelay(env.ROWCAST_PG_URL, name, name, ctx.kafka, name, changes, mappingValue)
      } finally {
        await release(name).catch(() => undefined)
      }
    }).then((m) => m.value)
    log(`  ${Math.round(relay.perSecond).toLocaleString('en-US')} msg/s`)

    // Sink ceilings, with messages like the mapping mode's, keyed by id, on the same topic layout.
    log('sink ceiling: bare kafkajs producer…')
    sink = await measureStable(ctx, 'sink ceiling', log, async (suffix) =>
      bestBareKafkaProducer(ctx.kafka, async (chunk) => {
        const topic = `${prefix}_sink${chunk}${suffix}`
        created.topics.push(topic)
        await createTopics(ctx.admin, [topic])
        return topic
      }, messages),
    ).then((m) => m.value)
    log(`  ${Math.round(sink.perSecond).toLocaleString('en-US')} msg/s`)
    log('reference: Kafka ProducerPerformance…')
    perf = await measureStable(ctx, 'ProducerPerformance', log, async (suffix) => {
      const topic = `${prefix}_perf${suffix}`
      created.topics.push(topic)
      await createTopics(ctx.admin, [topic])
      return producerPerformance(env.KAFKA_LIB, env.KAFKA_BOOTSTRAP_PLAINTEXT, topic, changes, averageMessageBytes)
    }).then((m) => m.value as ProducerPerformanceResult | { error: string }, (error: unknown) => ({ error: String(error) }))
    log(`  ${'error' in perf ? perf.error : `${Math.round(perf.perSecond).toLocaleString('en-US')} msg/s`}`)
  }

  const results: RunResult[] = []
  const failures: string[] = []
  for (const run of runs) {
    log(`rowcast ${run.key}…`)
    let result: RunResult
    try {
      result = await measureStable(ctx, `rowcast ${run.key}`, log, async (suffix) => {
        const name = `${prefix}_${run.key}${suffix}`
        try {
          // Fresh topics per run and per retry: a repeated run must not count the messages of the one before.
          const runTopics = `${topicPrefix}_${run.key}${suffix}`
          await prepare(name, runTopics)
          return await runRowcast(ctx, run, name, runTopics, changes, resultsDir)
        } finally {
          await release(name).catch(() => undefined)
        }
      }).then((m) => m.value)
    } catch (error) {
      log(`  failed: ${error instanceof Error ? error.message : String(error)} (logs: ${ctx.workDir})`)
      failures.push(`${run.key}: ${error instanceof Error ? error.message : String(error)}`)
      continue
    }
    log(`  ${Math.round(result.perSecond).toLocaleString('en-US')} msg/s, startup ${result.startupSeconds.toFixed(1)} s, peak RSS ${result.peakRssMiB.toFixed(0)} MiB, ${result.cpuMicrosPerMessage.toFixed(1)} µs CPU/msg`)
    results.push(result)
  }
  return { changes, transactions, writeSeconds, source, relay, sink, producerPerformance: perf, averageMessageBytes, runs: results, failures }
}

async function runRowcast(ctx: BenchContext, run: RunSpec, table: string, topicPrefix: string, changes: number, resultsDir: string): Promise<RunResult> {
  const { created } = ctx
  const slot = table
  const topics = run.topicColumn ? Array.from({ length: TOPIC_COUNT }, (_, i) => `${topicPrefix}_${i}`) : [table]
  created.topics.push(...topics)
  await createTopics(ctx.admin, topics)
  created.syncs.push(slot)
  const profileDir = join(ctx.workDir, `prof-${run.key}`)
  if (run.profile) mkdirSync(profileDir, { recursive: true })
  const yaml = rowcastYaml(ctx.env, { name: slot, table, slot, topic: run.topicColumn ? { column: 'topic_name' } : topics[0], mode: run.mode })
  const child = startRowcast({ configYaml: yaml, workDir: ctx.workDir, name: slot, ...(run.profile ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}) })
  created.processes.push(child)
  const spawnedAt = performance.now()
  const brokerBefore = brokerPid()
  let atFirst = null as Footprint | null
  let pause: RunResult['pause'] | undefined
  let pauseDone: Promise<void> | null = null
  try {
    const watched = await watchUntil(ctx.admin, topics, changes, {
      isAlive: () => child.footprint() !== null,
      onTick: (count, now) => {
        if (count > 0 && atFirst === null) atFirst = child.footprint()
        if (run.pauseKafkaMs !== undefined && pauseDone === null && count >= changes / 3) {
          const fromMs = Math.round(now - spawnedAt)
          const peakBefore = child.footprint()?.peakRssMiB ?? 0
          pauseDone = freezeKafka(run.pauseKafkaMs).then(() => {
            const toMs = Math.round(performance.now() - spawnedAt)
            const during = child.samples.filter(([t]) => t >= fromMs && t <= toMs + 2_000).map(([, rss]) => rss)
            pause = { fromMs, toMs, peakRssDuringMiB: Math.max(0, ...during), peakRssBeforeMiB: peakBefore }
          })
        }
      },
    })
    await pauseDone
    const end = child.footprint()
    const first: Footprint | null = atFirst
    const cpuSeconds = end === null ? NaN : end.cpuSeconds - (first?.cpuSeconds ?? 0)
    const catchUpSeconds = (watched.doneAt - watched.firstAt) / 1000
    const stopped = await child.stop()
    const result: RunResult = {
      key: run.key,
      messages: watched.count,
      startupSeconds: (watched.firstAt - spawnedAt) / 1000,
      catchUpSeconds,
      perSecond: watched.count / catchUpSeconds,
      peakRssMiB: stopped.footprint?.peakRssMiB ?? end?.peakRssMiB ?? NaN,
      cpuSeconds,
      cpuMicrosPerMessage: (cpuSeconds * 1e6) / watched.count,
      rssSamples: child.samples,
      brokerRestarted: brokerPid() !== brokerBefore,
      loadAverage: loadavg()[0],
      ...(pause === undefined ? {} : { pause }),
    }
    if (run.profile) {
      const file = largestFile(profileDir)
      if (file !== null) {
        result.profile = summariseProfile(file, 40)
        result.profileFile = join(resultsDir, `${slot}.cpuprofile`)
        await new Promise<void>((r) => execFile('cp', [file, result.profileFile as string], () => r()))
      }
    }
    return result
  } finally {
    await child.stop(10_000)
  }
}

/** Freezes the broker with SIGSTOP for `ms`, holding the stack's fault-injection lock; always resumes it. */
function freezeKafka(ms: number): Promise<void> {
  const stackDir = join(repoRoot, '.stack')
  const script = `pid=$(cat ${stackDir}/kafka.pid); trap 'kill -CONT $pid' EXIT; kill -STOP $pid; sleep ${ms / 1000}`
  return new Promise((resolve) => {
    execFile('flock', ['-w', '60', join(stackDir, 'stack.lock'), 'bash', '-c', script], () => resolve())
  })
}

function largestFile(dir: string): string | null {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f))
  files.sort((a, b) => statSync(b).size - statSync(a).size)
  return files[0] ?? null
}

/** Messages shaped like the mapping mode's, for the sink ceilings: same fields, same sizes, keyed by id. */
export function sinkMessages(shape: { inserts: number; updates: number; deletes: number }): Message[] {
  const total = shape.inserts + shape.updates + shape.deletes
  const plans = ['free', 'pro', 'team', 'enterprise']
  const messages: Message[] = new Array(total)
  const updatedAt = new Date().toISOString().replace('Z', '000Z')
  for (let n = 0; n < total; n++) {
    const i = (n % shape.inserts) + 1
    const row: Record<string, unknown> = {}
    const values: Record<keyof typeof MAPPING, unknown> = {
      id: i, name: `User ${i}`, age: 20 + (i % 50), email: `user${i}@example.com`,
      phone: i % 5 === 0 ? null : `+1415${String(i % 10_000_000).padStart(7, '0')}`, plan: plans[i % 4], updated_at: updatedAt,
    }
    for (const field of Object.keys(MAPPING) as (keyof typeof MAPPING)[]) row[field] = values[field]
    messages[n] = { key: String(i), value: JSON.stringify(row) }
  }
  return messages
}

/** The mapping mode's message for a decoded row (the relay ceiling's work per row). */
function mappingValue(row: Record<string, unknown>): string {
  const out: Record<string, unknown> = {}
  for (const [field, column] of Object.entries(MAPPING)) out[field] = row[column] ?? null
  return JSON.stringify(out)
}
