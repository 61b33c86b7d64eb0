import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { Command, CommanderError } from 'commander'
import { connectPostgres, type PostgresClient } from '../connectors/postgres/check.ts'
import { describeTable } from '../connectors/postgres/catalog.ts'
import { rowFilterIssue } from '../connectors/postgres/row-filter.ts'
import { acceptGap, ensureStateTable, writeBackfillState } from '../connectors/postgres/sync-state.ts'
import { loadConfig, parseConfig } from '../config/load-config.ts'
import type { RowcastConfig, SyncConfig } from '../config/root-schema.ts'
import { printChecks, runChecks } from './check.ts'
import { startDaemon, type Daemon } from './daemon.ts'
import { formatStatus, type SyncStatus } from '../observability/sync-status.ts'
import { watchStatus } from './status-watch.ts'
import { ConfigError, RowcastError, errorMessage, type ConfigIssue } from '../core/errors.ts'
import { createLogger, type Logger } from '../core/logger.ts'
import type { CheckResult } from '../core/check-result.ts'
import { resolveSync, slotName } from '../pipeline/resolve-sync.ts'
import { describeStreams } from '../config/stream-mode.ts'
import { resolveMessagesSync } from '../pipeline/resolve-messages-sync.ts'
import { redactSecrets, registerSecrets, secretsOf } from '../core/secrets.ts'
import packageJson from '../package.json' with { type: 'json' }

/** The `rowcast` command. Returns the exit code; `run` returns only after SIGTERM/SIGINT. */
export async function main(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const print = (line: string) => out(redactSecrets(line))
  let code = 0
  const program = new Command('rowcast')
    .description('Streams row changes from PostgreSQL logical replication into Apache Kafka.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out(s.trimEnd()), writeErr: (s) => out(s.trimEnd()) })
  const configOption = ['-c, --config <file>', 'the rowcast YAML config file', 'rowcast.yaml'] as const

  program
    .command('run')
    .description('run every sync until SIGTERM/SIGINT; then drain in-flight messages, confirm positions and exit 0')
    .option(...configOption)
    .option('--skip-checks', 'start without the connection checks of `rowcast check`')
    .option('--stop-timeout <seconds>', 'after SIGTERM/SIGINT, exit within this many seconds even if in-flight messages are not all acknowledged (they are read again next time)', '30')
    .action(async (opts: { config: string; skipChecks?: boolean; stopTimeout: string }) => {
      const config = load(opts.config)
      const stopTimeoutMs = Number(opts.stopTimeout) * 1000
      if (!(stopTimeoutMs > 0)) throw new ConfigError([{ path: '--stop-timeout', message: `must be a positive number of seconds, got "${opts.stopTimeout}"` }])
      let unreachable: CheckResult[] = []
      if (!opts.skipChecks) {
        const failed = (await runChecks(config)).filter((r) => !r.ok)
        // A server that is not up yet is waited for (a daemon under a supervisor starts before its databases);
        // anything else (a missing table, refused credentials) is a mistake to fix first.
        if (failed.some((r) => !r.unreachable)) {
          printChecks(failed, print)
          code = 1
          return
        }
        unreachable = failed
      }
      const logger = createLogger()
      logger.info({ version: packageJson.version, node: process.version }, 'starting rowcast')
      if (unreachable.length > 0) {
        logger.warn({ checks: unreachable.map((r) => `${r.name}: ${redactSecrets(r.detail)}`) }, 'PostgreSQL or Kafka not reachable yet: starting anyway; each sync retries with backoff until it is (/readyz says why it is not ready)')
      }
      const daemon = await startDaemon(config, { logger, baseDir: dirname(resolve(opts.config)) })
      const reloadOnHangup = () => void reloadConfig(opts.config, daemon, logger)
      process.on('SIGHUP', reloadOnHangup)
      const stoppedInTime = await stopOnSignal(daemon, logger, stopTimeoutMs)
      process.off('SIGHUP', reloadOnHangup)
      if (!stoppedInTime) {
        // Positions are confirmed as acknowledgements arrive: what was still in flight is simply read again next time.
        logger.error({ stopTimeoutMs }, 'stop timed out: exiting without confirming what was still in flight (it is read again next time)')
        process.exit(1)
      }
      logger.info('stopped')
      // Whatever a library still has pending (a Kafka connection attempt retrying) must not keep the process alive.
      setTimeout(() => process.exit(), 500).unref()
    })

  program
    .command('validate')
    .description('check the config file (and, when PostgreSQL is reachable, its tables and columns); print every problem with its path')
    .option(...configOption)
    .action(async (opts: { config: string }) => {
      // A config with schema problems is still checked against the database, sync by sync, as far as it can be:
      // every problem is reported in one run.
      const issues: ConfigIssue[] = []
      let checkable: { url: string; syncs: { sync: SyncConfig; index: number }[] } | null
      let streams: string[] = []
      try {
        const config = load(opts.config)
        streams = describeStreams(config, slotName)
        checkable = { url: config.source.postgres.url, syncs: config.syncs.map((sync, index) => ({ sync, index })) }
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error
        issues.push(...error.issues)
        checkable = checkableParts(opts.config, error.issues)
      }
      if (checkable === null) throw new ConfigError(issues)
      let client: PostgresClient
      try {
        client = await connectPostgres(checkable.url, 5_000)
      } catch (error) {
        if (issues.length > 0) throw new ConfigError(issues)
        print(`config ok; database checks skipped: cannot connect to PostgreSQL (${errorMessage(error)})`)
        return
      }
      try {
        for (const { sync, index } of checkable.syncs) {
          try {
            if (sync.model.table === undefined) {
              resolveMessagesSync(sync, index)
              continue
            }
            const resolved = resolveSync(await describeTable(client, sync.model.table), sync, index)
            const filterIssue = sync.model.filter === undefined ? undefined : await rowFilterIssue(client, resolved.table.name, sync.model.filter, `syncs[${index}].model.filter`)
            if (filterIssue !== undefined) throw new ConfigError([filterIssue])
          } catch (error) {
            if (!(error instanceof ConfigError)) throw error
            for (const issue of error.issues) if (!issues.some((i) => i.path === issue.path && i.message === issue.message)) issues.push(issue)
          }
        }
        if (issues.length > 0) throw new ConfigError(issues)
        print(`config ok: ${checkable.syncs.length} sync(s)`)
        for (const line of streams) print(`  ${line}`)
      } finally {
        await client.end()
      }
    })

  program
    .command('check')
    .description('test the connections like a destination test: PostgreSQL (wal_level, replication, tables, replica identity) and Kafka (brokers, auth, TLS, topics)')
    .option(...configOption)
    .action(async (opts: { config: string }) => {
      const results = await runChecks(load(opts.config))
      printChecks(results, print)
      if (results.some((r) => !r.ok)) code = 1
    })

  program
    .command('setup')
    .description('show (or with --yes, run) the ALTER TABLE … REPLICA IDENTITY FULL that exact "changed" detection and filters need')
    .option(...configOption)
    .option('--yes', 'run the statements instead of printing them')
    .action(async (opts: { config: string; yes?: boolean }) => {
      const config = load(opts.config)
      await withPostgres(config.source.postgres.url, async (client) => {
        for (const sync of config.syncs) {
          if (sync.model.table === undefined) continue // logical messages: no table
          const table = await describeTable(client, sync.model.table)
          if (table === null || table.replicaIdentity === 'full') continue
          if ((table.virtualColumns ?? []).length > 0) {
            // PostgreSQL 18 would refuse the table's UPDATEs and DELETEs: a FULL identity may not hold an unpublished (VIRTUAL) column.
            print(`-- ${table.name} stays as it is: REPLICA IDENTITY FULL with its VIRTUAL generated columns (${table.virtualColumns?.join(', ')}) would make PostgreSQL refuse its UPDATEs and DELETEs once published`)
            continue
          }
          const statement = `ALTER TABLE ${table.name} REPLICA IDENTITY FULL`
          if (opts.yes) await client.query(statement)
          print(opts.yes ? `done: ${statement}` : `${statement};`)
        }
      })
    })

  program
    .command('status')
    .description("each sync's state and, during a snapshot (backfill, resync), rows done / estimated total, rate and ETA, from the running daemon's HTTP endpoint")
    .option(...configOption)
    .option('--json', 'print the JSON of GET /status')
    .option('--watch', 'follow the snapshots until none runs: a live progress bar on a terminal, otherwise a line per change')
    .option('--interval <seconds>', 'with --watch: seconds between polls', '1')
    .option('--url <url>', 'the daemon\'s HTTP endpoint (default: from the config\'s http section)')
    .action(async (opts: { config: string; json?: boolean; watch?: boolean; interval: string; url?: string }) => {
      const config = load(opts.config)
      const host = config.http?.host ?? '127.0.0.1'
      const base = opts.url ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.http?.port ?? 9464}`
      const intervalMs = Number(opts.interval) * 1000
      if (!(intervalMs > 0)) throw new ConfigError([{ path: '--interval', message: `must be a positive number of seconds, got "${opts.interval}"` }])
      const read = async (): Promise<Record<string, SyncStatus> | null> => {
        try {
          const response = await fetch(`${base}/status`, { signal: AbortSignal.timeout(5_000) })
          return ((await response.json()) as { syncs: Record<string, SyncStatus> }).syncs
        } catch (error) {
          print(`cannot reach the daemon at ${base}/status (is it running, with an http section in its config?): ${errorMessage(error)}`)
          code = 1
          return null
        }
      }
      if (opts.watch === true && opts.json !== true) {
        code = await watchStatus(read, print, { tty: process.stdout.isTTY === true, intervalMs })
        return
      }
      const syncs = await read()
      if (syncs === null) return
      if (opts.json) print(JSON.stringify({ syncs }, null, 2))
      else for (const line of formatStatus(syncs)) print(line)
    })

  program
    .command('resync')
    .description('re-send the whole model of a sync (like "resync full query"): the running daemon picks it up within seconds')
    .option(...configOption)
    .requiredOption('-s, --sync <name>', 'the sync to resync')
    .option('--accept-gap', 'instead of re-sending: after PG_SLOT_LOST, record the lost changes and go on from a new slot')
    .action(async (opts: { config: string; sync: string; acceptGap?: boolean }) => {
      const config = load(opts.config)
      if (!config.syncs.some((s) => s.name === opts.sync)) throw new ConfigError([{ path: '--sync', message: `no sync named "${opts.sync}" in ${opts.config}` }])
      const gap = await withPostgres(config.source.postgres.url, async (client) => {
        await ensureStateTable(client)
        if (opts.acceptGap) return acceptGap(client, opts.sync)
        await writeBackfillState(client, opts.sync, 'resync')
        return undefined
      })
      if (!opts.acceptGap) print(`resync of "${opts.sync}" requested: every row of the model will be sent again as added`)
      else if (gap === null || gap === undefined) print(`"${opts.sync}" has no recorded stream: nothing to accept (it creates its slot when it starts)`)
      else print(`gap of "${opts.sync}" recorded as accepted: changes after ${gap.from} (confirmed ${gap.confirmedAt.toISOString()}, slot "${gap.slot}") are not sent; if its slot is lost, the sync goes on from a new one`)
    })

  try {
    await program.parseAsync(argv)
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode
    if (error instanceof ConfigError) {
      for (const issue of error.issues) print(`${issue.path}: ${issue.message}`)
      return 2
    }
    print(`error${error instanceof RowcastError ? ` ${error.code}` : ''}: ${errorMessage(error)}`)
    return 1
  }
  return code
}

/** Kept of --stop-timeout for exiting itself (log flush, process teardown). */
const EXIT_MARGIN_MS = 1_000

/**
 * Waits for SIGTERM/SIGINT, then stops the daemon (drain, confirm, close) within `timeoutMs`. Resolves whether it
 * stopped in time; a second signal gives up waiting at once.
 */
function stopOnSignal(daemon: Daemon, logger: Logger, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const stop = (signal: string) => {
      logger.info({ signal, timeoutMs }, 'stopping: draining in-flight messages')
      const timer = setTimeout(() => done(false), Math.max(timeoutMs - EXIT_MARGIN_MS, EXIT_MARGIN_MS)) // the exit itself within the bound
      void daemon.stop().then(() => {
        clearTimeout(timer)
        done(true)
      })
      const again = () => done(false)
      process.once('SIGTERM', again)
      process.once('SIGINT', again)
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}

/**
 * SIGHUP: reads the config file again and applies its `syncs:` (daemon.reload). A file that does not parse, or that
 * changes anything else, is refused with every problem named; the running syncs go on unchanged either way.
 */
async function reloadConfig(file: string, daemon: Daemon, logger: Logger): Promise<void> {
  logger.info({ config: file }, 'SIGHUP: reloading the config')
  try {
    const { added, changed, removed } = await daemon.reload(load(file))
    const names = (syncs: readonly { name: string }[]) => syncs.map((sync) => sync.name)
    logger.info({ added: names(added), changed: names(changed), removed }, 'config reloaded')
  } catch (error) {
    logger.error({ config: file, problems: errorMessage(error).split('\n') }, 'config reload refused: the running syncs go on unchanged')
  }
}

/** Loads the config file; the secrets it resolved are scrubbed from this command's output, even when it is invalid. */
function load(file: string): RowcastConfig {
  return registeringSecrets(() => loadConfig(file))
}

function registeringSecrets<T extends object>(parse: () => T): T {
  try {
    const parsed = parse()
    registerSecrets(secretsOf(parsed))
    return parsed
  } catch (error) {
    if (error instanceof ConfigError) registerSecrets(secretsOf(error))
    throw error
  }
}

async function withPostgres<T>(url: string, work: (client: PostgresClient) => Promise<T>): Promise<T> {
  const client = await connectPostgres(url)
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}

/**
 * The parts of an invalid config that can still be checked against the database: the PostgreSQL source, and
 * each sync that parses on its own once the keys with problems are set aside (they have defaults, or the sync is left out).
 */
function checkableParts(file: string, issues: readonly ConfigIssue[]): { url: string; syncs: { sync: SyncConfig; index: number }[] } | null {
  let raw: { source?: unknown; syncs?: unknown }
  try {
    raw = parseYaml(readFileSync(file, 'utf8')) as typeof raw
  } catch {
    return null
  }
  if (raw === null || typeof raw !== 'object' || !Array.isArray(raw.syncs)) return null
  const alone = (sync: unknown) => registeringSecrets(() => parseConfig(stringifyYaml({ source: raw.source, destination: { kafka: { brokers: '127.0.0.1:9092' } }, syncs: [sync] }), dirname(resolve(file))))
  let url: string | null = null
  const syncs: { sync: SyncConfig; index: number }[] = []
  raw.syncs.forEach((sync: unknown, index) => {
    let candidate = sync
    if (sync !== null && typeof sync === 'object') {
      const bad = new Set<string>()
      for (const issue of issues) {
        const key = new RegExp(`^syncs\\[${index}\\]\\.(\\w+)`).exec(issue.path)?.[1]
        if (key !== undefined) bad.add(key)
        const unknown = issue.path === `syncs[${index}]` ? /^Unrecognized key\(s\) in object: (.*)$/.exec(issue.message)?.[1] : undefined
        for (const k of unknown?.split(', ') ?? []) bad.add(k.replace(/^'|'$/g, ''))
      }
      candidate = Object.fromEntries(Object.entries(sync).filter(([key]) => !bad.has(key)))
    }
    try {
      const config = alone(candidate)
      url = config.source.postgres.url
      syncs.push({ sync: config.syncs[0], index })
    } catch {
      // too broken to check against the database; its problems are already reported
    }
  })
  return url === null ? null : { url, syncs }
}
