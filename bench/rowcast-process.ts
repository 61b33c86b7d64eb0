/**
 * rowcast as a child process (`node bin/rowcast.mjs run --config <yaml> --skip-checks`), so its memory and
 * CPU are its own; footprint read from /proc/<pid>/status (VmHWM, VmRSS) and /proc/<pid>/stat (utime+stime).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../scripts/stack-env.ts'

export interface Footprint {
  /** Peak resident set (VmHWM), MiB. */
  peakRssMiB: number
  rssMiB: number
  /** user + system CPU seconds so far. */
  cpuSeconds: number
}

export interface RowcastProcess {
  pid: number
  /** RSS samples every 200 ms: [ms since start, MiB]. */
  readonly samples: [number, number][]
  footprint(): Footprint | null
  /** SIGTERM (graceful drain), then SIGKILL after `timeoutMs`; returns the last footprint before exit. */
  stop(timeoutMs?: number): Promise<{ footprint: Footprint | null; code: number | null }>
  exited: Promise<number | null>
}

const CLOCK_TICKS = clockTicks()

export function startRowcast(options: { configYaml: string; workDir: string; name: string; nodeArgs?: string[]; logLevel?: string }): RowcastProcess {
  const configFile = join(options.workDir, `${options.name}.yaml`)
  writeFileSync(configFile, options.configYaml)
  const log = createWriteStream(join(options.workDir, `${options.name}.log`))
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeArgs ?? []), ...(process.env.ROWCAST_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), join(repoRoot, 'bin', 'rowcast.mjs'), 'run', '--config', configFile, '--skip-checks'], {
    cwd: repoRoot,
    env: { ...process.env, ROWCAST_LOG_LEVEL: options.logLevel ?? 'warn', NODE_OPTIONS: process.env.ROWCAST_BENCH_NODE_OPTIONS ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout?.pipe(log, { end: false }) // both into one file: the first to end must not close it under the other
  child.stderr?.pipe(log, { end: false })
  const pid = child.pid
  if (pid === undefined) throw new Error('could not start rowcast')
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => { log.end(); resolve(code) }))
  const started = performance.now()
  const samples: [number, number][] = []
  let last: Footprint | null = null
  const footprint = (): Footprint | null => {
    const now = readFootprint(pid)
    if (now !== null) last = now
    return now
  }
  const sampler = setInterval(() => {
    const f = footprint()
    if (f !== null) samples.push([Math.round(performance.now() - started), f.rssMiB])
  }, 200)
  void exited.then(() => clearInterval(sampler))
  return {
    pid,
    samples,
    footprint,
    exited,
    async stop(timeoutMs = 30_000) {
      footprint()
      const final = last
      if (child.exitCode !== null) return { footprint: final, code: child.exitCode }
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      const code = await exited
      clearTimeout(timer)
      clearInterval(sampler)
      return { footprint: final, code }
    },
  }
}

/** Reads the footprint of any process; null once it is gone. */
export function readFootprint(pid: number): Footprint | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields from #3 (state) on
    const ticks = Number(fields[11]) + Number(fields[12]) // #14 utime, #15 stime
    return { peakRssMiB: kib('VmHWM') / 1024, rssMiB: kib('VmRSS') / 1024, cpuSeconds: ticks / CLOCK_TICKS }
  } catch {
    return null
  }
}

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
  } catch {
    return 100
  }
}
