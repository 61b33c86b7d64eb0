/**
 * Stream group bench (issue 17): walsender CPU and rowcast CPU per change, one sync alone against 10 syncs.
 * Each scenario: fresh tables and topics, rowcast started once (slots and cursors made), stopped, then 200,000
 * changes (CHANGES) written to the first table in transactions of 1,000 (TX_ROWS), then rowcast started again and timed until
 * every topic holds what it should (catch-up). CPU from /proc/<pid>/stat: rowcast's process, and the walsenders
 * of the run (pg_stat_replication), from the restart to the end.
 * Run inside the stack's namespace: node --conditions=rowcast-source --import tsx bench/stream-group.ts [--only=one,fanout]
 * (--only: scenarios by id: one, one-shared, tables-shared, tables-dedicated, fanout; default all).
 */
import { readFileSync } from 'node:fs'
import { loadKafkajs } from '../connectors/kafka/kafkajs/patch.ts'
import { stack, sql, uniqueName, createTopics, eventually } from '../test/support/harness.ts'
import { freePort, spawnRowcast, writeConfig } from '../test/support/rowcast-process.ts'
import type { StackEnv } from '../scripts/stack-env.ts'

const CHANGES = Number(process.env.CHANGES ?? 200_000)
/** Rows per source transaction (a divisor of 1,000: the table's rows); TX_ROWS=1 for a stream of small transactions. */
const TX_ROWS = Number(process.env.TX_ROWS ?? 1_000)
const TABLE_ROWS = 1_000
const TICKS = 100 // clock ticks per second (getconf CLK_TCK)

function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / TICKS
  } catch {
    return 0
  }
}

async function walsenders(env: StackEnv, slots: string[]): Promise<number[]> {
  const { rows } = await sql(env, 'SELECT active_pid FROM pg_replication_slots WHERE slot_name = ANY($1) AND active_pid IS NOT NULL', [slots])
  return rows.map((r: { active_pid: number }) => r.active_pid)
}

async function endOffsets(env: StackEnv, topics: string[]): Promise<number[]> {
  const { Kafka, logLevel } = loadKafkajs()
  const admin = new Kafka({ clientId: 'bench', brokers: [env.KAFKA_BOOTSTRAP_PLAINTEXT], logLevel: logLevel.NOTHING }).admin()
  await admin.connect()
  try {
    return await Promise.all(topics.map(async (t) => (await admin.fetchTopicOffsets(t)).reduce((a, p) => a + Number(p.high), 0)))
  } finally {
    await admin.disconnect()
  }
}

/** Rows of _rowcast.sync_state updated so far (each sync's cursor written; one UPDATE may write several syncs' rows). */
async function cursorRowWrites(env: StackEnv): Promise<number> {
  const { rows } = await sql(env, "SELECT coalesce(sum(n_tup_upd), 0)::int AS n FROM pg_stat_user_tables WHERE schemaname = '_rowcast' AND relname = 'sync_state'")
  return (rows[0] as { n: number }).n
}

interface Scenario { id: string; label: string; syncs: number; sameTable: boolean; shared: boolean }

async function run(env: StackEnv, s: Scenario): Promise<Record<string, number | string>> {
  const tables = Array.from({ length: s.sameTable ? 1 : s.syncs }, () => uniqueName('bt'))
  const topics = Array.from({ length: s.syncs }, () => uniqueName('bk'))
  const names = topics.map((t) => t.replace('bk', 'bs'))
  for (const table of tables) {
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0, repeat('x', 100) FROM generate_series(1, ${TABLE_ROWS}) g`)
  }
  await createTopics(env, topics, 1)
  const group = uniqueName('bgrp')
  const yaml = names.map((name, i) => `  - name: ${name}
    stream: ${s.shared ? 'shared' : 'dedicated'}
    model: { table: ${tables[s.sameTable ? 0 : i]} }
    topic: ${topics[i]}
    message: { mapping: { id: id, n: n } }
`).join('')
  const port = await freePort()
  const file = writeConfig(env, yaml, port)
  const text = readFileSync(file, 'utf8').replace(/^ {4}streamGroup: .*$/m, `    streamGroup: { slot: ${group} }`)
  const { writeFileSync } = await import('node:fs')
  writeFileSync(file, text)
  const slots = s.shared ? [group] : names.map((n) => `rowcast_${n}`)
  let proc = spawnRowcast(file, port)
  await eventually(() => proc.states(), (st) => names.every((n) => st?.[n] === 'streaming'), 120_000, 'streaming')
  await new Promise((r) => setTimeout(r, 3_000))
  await proc.kill('SIGTERM')
  // The backlog: CHANGES updates of the first table, TX_ROWS per transaction.
  const started = Date.now()
  await sql(env, `DO $$ BEGIN
    FOR i IN 0..${CHANGES / TX_ROWS - 1} LOOP
      UPDATE ${tables[0]} SET n = n + 1 WHERE id > (i * ${TX_ROWS}) % ${TABLE_ROWS} AND id <= (i * ${TX_ROWS}) % ${TABLE_ROWS} + ${TX_ROWS};
      COMMIT;
    END LOOP;
  END $$`)
  const writeSeconds = (Date.now() - started) / 1000
  const expected = topics.map((_, i) => (s.sameTable || i === 0 ? CHANGES : 0))
  const before = await endOffsets(env, topics)
  const cursorRowsBefore = await cursorRowWrites(env)
  proc = spawnRowcast(file, port)
  const t0 = Date.now()
  let senders: number[] = []
  const senderCpu = new Map<number, number>()
  const sample = async () => {
    senders = await walsenders(env, slots)
    for (const pid of senders) senderCpu.set(pid, cpuSeconds(pid))
  }
  await eventually(async () => {
    await sample()
    const now = await endOffsets(env, topics)
    return now.every((n, i) => n - before[i]! >= expected[i]!)
  }, (ok) => ok, 600_000, 'catch-up', )
  const seconds = (Date.now() - t0) / 1000
  await sample()
  const rowcastCpu = cpuSeconds(proc.pid)
  await new Promise((r) => setTimeout(r, 1_500)) // table statistics reach pg_stat_user_tables within a second
  const cursorRows = (await cursorRowWrites(env)) - cursorRowsBefore
  const walsenderCpu = [...senderCpu.values()].reduce((a, b) => a + b, 0)
  await proc.kill('SIGTERM')
  for (const slot of slots) await sql(env, 'SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined)
  const messages = expected.reduce((a, b) => a + b, 0)
  return {
    scenario: s.label, syncs: s.syncs, changesWritten: CHANGES, messages, writeSeconds, catchUpSeconds: seconds,
    walsenders: senderCpu.size, walsenderCpuSeconds: walsenderCpu, rowcastCpuSeconds: rowcastCpu,
    rowcastCpuMicrosPerMessage: Math.round((rowcastCpu / messages) * 1e6), messagesPerSecond: Math.round(messages / seconds),
    cursorRowWrites: cursorRows, sourceTransactions: CHANGES / TX_ROWS,
  }
}

const env = await stack()
const scenarios: Scenario[] = [
  { id: 'one', label: 'one sync (dedicated)', syncs: 1, sameTable: false, shared: false },
  { id: 'one-shared', label: 'one sync (shared)', syncs: 1, sameTable: false, shared: true },
  { id: 'tables-shared', label: '10 syncs, 10 tables, shared', syncs: 10, sameTable: false, shared: true },
  { id: 'tables-dedicated', label: '10 syncs, 10 tables, dedicated', syncs: 10, sameTable: false, shared: false },
  { id: 'fanout', label: '10 syncs, one table, shared', syncs: 10, sameTable: true, shared: true },
]
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',')
for (const s of scenarios.filter((x) => only === undefined || only.includes(x.id))) console.log(JSON.stringify(await run(env, s)))
process.exit(0)
