import { dirname, resolve } from 'node:path'
import pg from 'pg'
import { Command, CommanderError } from 'commander'
import { checkKafka } from '../connectors/kafka/check.ts'
import { checkPostgres } from '../connectors/postgres/check.ts'
import { describeTable } from '../connectors/postgres/catalog.ts'
import { ensureStateTable, writeBackfillState } from '../connectors/postgres/setup.ts'
import { staticTopics } from '../operators/route-topic.ts'
import type { CheckResult } from './check-result.ts'
import { loadConfig, type RowcastConfig } from './config.ts'
import { startDaemon } from './daemon.ts'
import { ConfigError, RowcastError, errorMessage } from './errors.ts'
import { createLogger } from './logger.ts'
import { resolveSync } from './resolve-sync.ts'
import { redactSecrets } from './secrets.ts'

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
    .action(async (opts: { config: string; skipChecks?: boolean }) => {
      const config = loadConfig(opts.config)
      if (!opts.skipChecks) {
        const results = await runChecks(config)
        const failed = results.filter((r) => !r.ok)
        if (failed.length > 0) {
          printChecks(failed, print)
          code = 1
          return
        }
      }
      const logger = createLogger()
      const daemon = await startDaemon(config, { logger, baseDir: dirname(resolve(opts.config)) })
      await new Promise<void>((done) => {
        const stop = (signal: string) => {
          logger.info({ signal }, 'stopping: draining in-flight messages')
          void daemon.stop().then(done)
        }
        process.once('SIGTERM', () => stop('SIGTERM'))
        process.once('SIGINT', () => stop('SIGINT'))
      })
      logger.info('stopped')
    })

  program
    .command('validate')
    .description('check the config file (and, when PostgreSQL is reachable, its tables and columns); print every problem with its path')
    .option(...configOption)
    .action(async (opts: { config: string }) => {
      const config = loadConfig(opts.config)
      const client = new pg.Client({ connectionString: config.source.postgres.url, connectionTimeoutMillis: 5_000 })
      try {
        await client.connect()
      } catch (error) {
        print(`config ok; database checks skipped: cannot connect to PostgreSQL (${errorMessage(error)})`)
        return
      }
      try {
        const issues = []
        for (const [index, sync] of config.syncs.entries()) {
          try {
            await resolveSync(client, sync, index)
          } catch (error) {
            if (error instanceof ConfigError) issues.push(...error.issues)
            else throw error
          }
        }
        if (issues.length > 0) throw new ConfigError(issues)
        print(`config ok: ${config.syncs.length} sync(s)`)
      } finally {
        await client.end()
      }
    })

  program
    .command('check')
    .description('test the connections like a destination test: PostgreSQL (wal_level, replication, tables, replica identity) and Kafka (brokers, auth, TLS, topics)')
    .option(...configOption)
    .action(async (opts: { config: string }) => {
      const results = await runChecks(loadConfig(opts.config))
      printChecks(results, print)
      if (results.some((r) => !r.ok)) code = 1
    })

  program
    .command('setup')
    .description('show (or with --yes, run) the ALTER TABLE … REPLICA IDENTITY FULL that exact "changed" detection and filters need')
    .option(...configOption)
    .option('--yes', 'run the statements instead of printing them')
    .action(async (opts: { config: string; yes?: boolean }) => {
      const config = loadConfig(opts.config)
      const client = new pg.Client({ connectionString: config.source.postgres.url })
      await client.connect()
      try {
        for (const sync of config.syncs) {
          const table = await describeTable(client, sync.model.table)
          if (table === null || table.replicaIdentity === 'full') continue
          const statement = `ALTER TABLE ${table.name} REPLICA IDENTITY FULL`
          if (opts.yes) await client.query(statement)
          print(opts.yes ? `done: ${statement}` : `${statement};`)
        }
      } finally {
        await client.end()
      }
    })

  program
    .command('resync')
    .description('re-send the whole model of a sync (like "resync full query"): the running daemon picks it up within seconds')
    .option(...configOption)
    .requiredOption('-s, --sync <name>', 'the sync to resync')
    .action(async (opts: { config: string; sync: string }) => {
      const config = loadConfig(opts.config)
      if (!config.syncs.some((s) => s.name === opts.sync)) throw new ConfigError([{ path: '--sync', message: `no sync named "${opts.sync}" in ${opts.config}` }])
      const client = new pg.Client({ connectionString: config.source.postgres.url })
      await client.connect()
      try {
        await ensureStateTable(client)
        await writeBackfillState(client, opts.sync, 'resync')
      } finally {
        await client.end()
      }
      print(`resync of "${opts.sync}" requested: every row of the model will be sent again as added`)
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

async function runChecks(config: RowcastConfig): Promise<CheckResult[]> {
  const topics = new Set<string>()
  for (const sync of config.syncs) {
    for (const topic of staticTopics(sync.topic)) topics.add(topic)
    if (typeof sync.onRowError === 'object') topics.add(sync.onRowError.deadLetter.topic)
  }
  const [postgres, kafka] = await Promise.all([checkPostgres(config.source.postgres.url, config.syncs), checkKafka(config.destination.kafka, [...topics])])
  return [...postgres, ...kafka]
}

function printChecks(results: readonly CheckResult[], print: (line: string) => void): void {
  for (const r of results) print(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}${!r.ok && r.fix ? ` — fix: ${r.fix}` : ''}`)
}
