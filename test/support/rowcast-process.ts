import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { promisify } from 'node:util'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configYaml } from './harness.ts'
import { describeOnHang } from './watchdog.ts'

/** rowcast as a real child process (so SIGKILL is real), plus the fault-injection commands of the stack. */

const ROOT = new URL('../..', import.meta.url).pathname

/** Children a failed test left running would keep streaming (and the file's process alive): killed when the file ends. */
const children = new Set<ChildProcess>()
after(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
})

export interface RowcastProcess {
  readonly pid: number
  readonly port: number
  /** The last lines the daemon logged (pino JSON), for failure messages. */
  logs(): string
  /** Every line (parsed) whose message is "starting replication" or about exactly-once progress, kept whole. */
  notable(): { msg: string; from?: string; through?: string; partial?: unknown }[]
  /** Sync states from /readyz, or null while the HTTP endpoint does not answer. */
  states(): Promise<Record<string, string> | null>
  /** Peak resident set size (VmHWM) in kB, while the process lives. */
  peakRssKb(): number
  /** Sends `signal` and waits for the exit. */
  kill(signal: NodeJS.Signals): Promise<void>
  /** Sends `signal` (SIGHUP: reload the config) without waiting for anything. */
  signal(signal: NodeJS.Signals): void
  /** The exit code, or null while it runs. */
  exitCode(): number | null
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Writes a config file for the stack (heartbeat 1 s, HTTP on `port`) and returns its path. */
export function writeConfig(env: StackEnv, syncYaml: string, port: number, extra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'rowcast-test-'))
  const file = join(dir, 'rowcast.yaml')
  writeFileSync(file, configYaml(env, syncYaml, { destination: extra, root: `http:\n  port: ${port}` }))
  return file
}

/** Starts `node bin/rowcast.mjs run --config <file> --skip-checks` (with `checks`: without it) on the port the config names. */
export function spawnRowcast(configFile: string, port: number, options: { checks?: boolean } = {}): RowcastProcess {
  const args = ['run', '--config', configFile, ...(options.checks === true ? [] : ['--skip-checks'])]
  const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin/rowcast.mjs'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ROWCAST_LOG_LEVEL: process.env.ROWCAST_TEST_LOG ?? 'info', ROWCAST_LOG_PRETTY: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let tail = ''
  let partialLine = ''
  const notable: { msg: string }[] = []
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-20_000)
  }
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partialLine + chunk.toString()).split('\n')
    partialLine = lines.pop() ?? ''
    for (const line of lines) if (/"msg":"(starting replication|starting the stream group's replication|exactly-once)/.test(line)) notable.push(JSON.parse(line) as { msg: string })
  })
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const pid = child.pid as number
  children.add(child)
  void exited.then(() => children.delete(child))
  describeOnHang(() => `rowcast child ${pid}: ${child.exitCode === null && child.signalCode === null ? 'running' : 'exited'}`)
  return {
    pid,
    port,
    logs: () => tail,
    notable: () => notable,
    async states() {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) })
        return ((await response.json()) as { syncs: Record<string, string> }).syncs
      } catch {
        return null
      }
    },
    peakRssKb() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8')
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0)
    },
    exitCode: () => child.exitCode,
    signal(signal) {
      child.kill(signal)
    },
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await exited
    },
  }
}

/** `bash scripts/stack.sh <command>` (kafka-stop, kafka-start, pg-stop, pg-start). */
export async function stackCommand(command: string): Promise<void> {
  await promisify(execFile)('bash', [join(ROOT, 'scripts/stack.sh'), command], { cwd: ROOT, timeout: 120_000 })
}

/**
 * Restarts the stack's PostgreSQL: `pg-stop` (fast shutdown), a pause, `pg-start`. A fast shutdown waits
 * for every walsender's client to confirm the end of the WAL; a replication client elsewhere on the
 * shared stack that never does (an older rowcast) would hold the server in "shutting down", refusing
 * everyone, for the script's 60 s. So after `fastTimeoutMs` the shutdown is finished with pg_ctl's
 * immediate mode (crash-safe: recovery on start). Returns whether the fast shutdown completed on its own.
 */
export async function restartPostgres(pauseMs: number, fastTimeoutMs = 15_000): Promise<boolean> {
  let fast = true
  try {
    const stopping = stackCommand('pg-stop').then(() => true, () => false)
    const inTime = await Promise.race([stopping, new Promise<false>((r) => setTimeout(() => r(false), fastTimeoutMs))])
    if (!inTime) {
      fast = false
      const data = realpathSync(join(ROOT, '.stack/pg'))
      const env = Object.fromEntries(readFileSync(join(ROOT, '.stack/env'), 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => l.split(/=(.*)/s).slice(0, 2)))
      const pgCtl = [join(env.PG_BIN ?? '/usr/lib/postgresql/15/bin', 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop']
      const [command, args] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', ...pgCtl]] : [pgCtl[0], pgCtl.slice(1)]
      await promisify(execFile)(command as string, args as string[], { cwd: '/', timeout: 60_000 }).catch(() => undefined)
      await stopping
    }
    await new Promise((r) => setTimeout(r, pauseMs))
  } finally {
    await stackCommand('pg-start')
  }
  return fast
}

/**
 * Commits `UPDATE <table> SET n = n + 1` on keys 1..keys in turn, one transaction each, until stopped;
 * rides out PostgreSQL restarts by reconnecting. Every committed change is (id, n): the final n per key
 * in the database says which changes exist.
 */
export function startWriter(env: StackEnv, table: string, keys: number, pauseMs = 5): { stop(): Promise<{ commits: number; errors: number }> } {
  let stopping = false
  let commits = 0
  let errors = 0
  const loop = (async () => {
    let client: pg.Client | null = null
    let key = 0
    while (!stopping) {
      try {
        if (client === null) {
          client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
          client.on('error', () => undefined)
          await client.connect()
        }
        await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = $1`, [(key % keys) + 1])
        key++
        commits++
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs))
      } catch {
        errors++
        await client?.end().catch(() => undefined)
        client = null
        await new Promise((r) => setTimeout(r, 200))
      }
    }
    await client?.end().catch(() => undefined)
  })()
  return {
    async stop() {
      stopping = true
      await loop
      return { commits, errors }
    },
  }
}

/**
 * Updates, inserts and deletes rows of `tables` (id 1..rows at the start; rows inserted above) in small
 * transactions, in turn, until stopped. Rows inserted carry 4 KiB. The final rows in the database are the verdict.
 */
export function startMixedWriter(env: StackEnv, tables: readonly string[], rows: number): { stop(): Promise<void> } {
  let stopping = false
  const loop = (async () => {
    const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    client.on('error', () => undefined)
    await client.connect()
    for (let i = 0; !stopping; i++) {
      const table = tables[i % tables.length]
      const id = 1 + ((i * 7919) % rows)
      if (i % 7 === 0) await client.query(`DELETE FROM ${table} WHERE id = $1`, [id])
      else if (i % 7 === 1) await client.query(`INSERT INTO ${table} VALUES ($1::int, 1, repeat(md5($1::text), 128)) ON CONFLICT (id) DO UPDATE SET n = ${table}.n + 1`, [rows + i])
      else await client.query(`UPDATE ${table} SET n = n + 1 WHERE id = $1`, [id])
      await new Promise((r) => setTimeout(r, 2))
    }
    await client.end()
  })()
  return {
    async stop() {
      stopping = true
      await loop
    },
  }
}

/** Drops a test's replication slot once no one streams from it (slots left behind pin WAL and run out). */
export async function dropSlotWhenFree(env: StackEnv, slot: string, timeoutMs = 15_000): Promise<void> {
  const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
  await client.connect()
  try {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const { rows } = await client.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot])
      if (rows.length === 0) return
      if (!rows[0].active) {
        await client.query('SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined)
        return
      }
      await new Promise((r) => setTimeout(r, 200))
    }
  } finally {
    await client.end()
  }
}
