import { createKafkaClient } from '../connectors/kafka/client.ts'
import { createAlerts } from '../observability/alerts/notifier.ts'
import type { RowcastConfig, SyncConfig } from '../config/root-schema.ts'
import { ConfigError } from '../core/errors.ts'
import { createDebuggerFeed, type DebuggerFeed } from '../observability/debugger/debugger-feed.ts'
import { startHttpServer, type HttpServer } from '../observability/http-server.ts'
import { createLogger, type Logger } from '../core/logger.ts'
import { createMetrics } from '../observability/metrics.ts'
import { mergeInsertions, type OperatorInsertions } from '../pipeline/steps.ts'
import { DeliveryRecords } from '../pipeline/delivery-records.ts'
import { SyncSupervisor } from '../pipeline/supervisor.ts'
import { syncEdges } from '../pipeline/sync-edges.ts'
import { translatePgError } from '../connectors/postgres/errors.ts'
import { createSlotReader } from '../connectors/postgres/slot-reader.ts'
import { StreamGroup } from '../connectors/postgres/stream-group.ts'
import { startSlotMonitor } from '../pipeline/slot-monitor.ts'
import { slotName } from '../pipeline/resolve-sync.ts'
import { describeStreams } from '../config/stream-mode.ts'
import { Telemetry } from '../core/telemetry.ts'
import { registerSecrets, secretsOf } from '../core/secrets.ts'
import { checkOperatorOptions, loadOperators } from './load-operators.ts'
import { diffConfig, type ConfigDiff } from './config-diff.ts'

export interface DaemonOptions {
  logger?: Logger
  /** Folder that relative `operators:` module paths are resolved against (the config file's). */
  baseDir?: string
  /**
   * Per sync name, your own RxJS operators at named points between the built-in steps, e.g.
   * `{ users: { afterComposeMessage: [mask] } }`. Every built-in step still runs. A config file's
   * `operators:` run after these at the same point.
   */
  operators?: Record<string, OperatorInsertions>
  /** Retry wait after a non-retriable sync failure (default 60 s). */
  failedRetryMs?: number
}

export interface Daemon {
  telemetry: Telemetry
  syncs: SyncSupervisor[]
  /** The HTTP endpoint's base URL, when `http` is configured. */
  url: string | null
  /**
   * Applies a new config's `syncs:` while running: added syncs start (a backfill reads beside their stream),
   * changed ones are stopped (drained, confirmed) and started anew, removed ones stop (their slot is kept).
   * Any other change is refused (ConfigError naming each section): those need a restart.
   */
  reload(next: RowcastConfig): Promise<ConfigDiff>
  stop(): Promise<void>
}

/** Starts every sync, plus metrics, the debugger and alerts. `stop()` drains and confirms, then closes. */
export async function startDaemon(config: RowcastConfig, options: DaemonOptions = {}): Promise<Daemon> {
  // From here on logs, errors and the debugger scrub what the config resolved as secrets.
  registerSecrets(secretsOf(config))
  const logger = options.logger ?? createLogger()
  checkOperatorOptions(config.syncs.map((sync) => sync.name), options.operators ?? {})
  const telemetry = new Telemetry()
  const metrics = createMetrics(telemetry)
  const debuggerOn = config.http?.debuggerToken !== undefined && config.http.debuggerToken !== ''
  const debuggerFeed: DebuggerFeed | null = debuggerOn ? createDebuggerFeed({ config: config.debugger, telemetry }) : null
  const alerts = createAlerts({ config: config.alerts, thresholds: config.alertThresholds, telemetry, logger })
  const http: HttpServer | null = config.http === undefined ? null : await startHttpServer({ config: config.http, telemetry, metrics, debuggerFeed, logger })
  if (http !== null) logger.info({ url: http.url }, 'HTTP endpoint listening (/metrics, /healthz, /readyz' + (debuggerOn ? ', /debugger)' : ')'))

  const kafka = createKafkaClient(config.destination.kafka, logger)
  const shared = config.syncs.filter((sync) => sync.stream === 'shared')
  const postgres = config.source.postgres
  const group = shared.length === 0 ? undefined : new StreamGroup({
    url: postgres.url,
    slot: postgres.streamGroup.slot,
    syncs: shared.map((sync) => sync.name),
    heartbeatIntervalMs: postgres.heartbeatIntervalMs,
    statusIntervalMs: postgres.statusIntervalMs,
    takeoverTimeoutMs: postgres.takeoverTimeoutMs,
    failoverSlots: postgres.failoverSlots,
    parkAfterMs: postgres.streamGroup.parkAfterMs,
    logger: logger.child({ component: 'stream-group', group: postgres.streamGroup.slot }),
  })
  logger.info({ streams: describeStreams(config, slotName) }, `streams: ${shared.length} sync(s) share stream group "${postgres.streamGroup.slot}", ${config.syncs.length - shared.length} read a slot of their own`)
  let running = config
  const baseDir = options.baseDir ?? process.cwd()
  const startSync = async (sync: SyncConfig, index: number): Promise<SyncSupervisor> => {
    const operators = mergeInsertions(options.operators?.[sync.name] ?? {}, await loadOperators(sync.operators, baseDir, index))
    const syncLogger = logger.child({ component: 'sync', sync: sync.name })
    const records = new DeliveryRecords(sync.name, telemetry, syncLogger)
    const supervisor = new SyncSupervisor({
      name: sync.name,
      exactlyOnce: sync.delivery === 'exactly-once',
      telemetry,
      logger: syncLogger,
      records,
      translateError: translatePgError,
      ...(options.failedRetryMs === undefined ? {} : { failedRetryMs: options.failedRetryMs }),
      edges: syncEdges({
        sync,
        index,
        postgres: running.source.postgres,
        kafka,
        limits: { ...running.limits, retryInitialMs: 200 },
        progressTopic: running.destination.progressTopic,
        ...(running.destination.exactlyOnce === undefined ? {} : { namespace: running.destination.exactlyOnce.namespace }),
        operators,
        baseDir,
        records,
        logger: syncLogger,
        ...(group === undefined ? {} : { group }),
        ...(running.destination.schemaRegistry === undefined ? {} : { schemaRegistry: running.destination.schemaRegistry }),
      }),
    })
    supervisor.start()
    return supervisor
  }
  const syncs: SyncSupervisor[] = []
  for (const [index, sync] of config.syncs.entries()) syncs.push(await startSync(sync, index))
  const monitored = () => running.syncs.map((sync) => (sync.stream === 'shared' ? { sync: sync.name, slot: postgres.streamGroup.slot, shared: true } : { sync: sync.name, slot: slotName(sync) }))
  // Lag, retained WAL and slot statistics from the server's view, on a timer: they move even while a sync is stuck.
  const slotMonitor = startSlotMonitor({
    syncs: monitored,
    reader: createSlotReader(config.source.postgres.url),
    telemetry,
    logger: logger.child({ component: 'slot-monitor' }),
    intervalMs: config.source.postgres.slotCheckIntervalMs,
  })

  /** One reload at a time; a stop waits for it. */
  let reloading: Promise<unknown> = Promise.resolve()
  const reload = async (next: RowcastConfig): Promise<ConfigDiff> => {
    const diff = diffConfig(running, next)
    if (diff.outside.length > 0) {
      throw new ConfigError(diff.outside.map((path) => ({ path, message: 'changed, but only `syncs:` can change while rowcast runs: restart it to apply this' })))
    }
    // A stream group's members are fixed when it takes its lock (their cursors load with it): not changed while running yet.
    const sharedTouched = [...diff.added, ...diff.changed, ...running.syncs.filter((sync) => diff.removed.includes(sync.name))].filter((sync) => sync.stream === 'shared')
    if (sharedTouched.length > 0) {
      throw new ConfigError(sharedTouched.map((sync) => ({ path: next.syncs.includes(sync) ? `syncs[${next.syncs.indexOf(sync)}]` : 'syncs', message: `sync "${sync.name}" reads the shared stream (stream: shared): adding, changing or removing such a sync needs a restart` })))
    }
    checkOperatorOptions(next.syncs.map((sync) => sync.name), options.operators ?? {})
    registerSecrets(secretsOf(next))
    const leaving = new Set([...diff.removed, ...diff.changed.map((sync) => sync.name)])
    const stopped = syncs.filter((supervisor) => leaving.has(supervisor.name))
    // Stopped first (drained and confirmed, like a daemon stop), so a changed sync's new run starts from its confirmed position.
    await Promise.all(stopped.map((supervisor) => supervisor.stop()))
    for (const supervisor of stopped) syncs.splice(syncs.indexOf(supervisor), 1)
    const removedSlots = running.syncs.filter((sync) => diff.removed.includes(sync.name)).map((sync) => ({ sync: sync.name, slot: slotName(sync) }))
    for (const { sync } of removedSlots) telemetry.emit('syncRemoved', { sync })
    running = next
    for (const sync of [...diff.changed, ...diff.added]) syncs.push(await startSync(sync, next.syncs.indexOf(sync)))
    for (const { sync, slot } of removedSlots) {
      logger.warn({ sync, slot }, `sync removed from the config: stopped; its replication slot ${slot} is kept (PostgreSQL retains WAL for it): drop it with SELECT pg_drop_replication_slot('${slot}') if the sync is gone for good`)
    }
    return diff
  }

  let stopping: Promise<void> | null = null
  return {
    telemetry,
    syncs,
    url: http?.url ?? null,
    reload: (next) => {
      const done = reloading.catch(() => undefined).then(() => reload(next))
      reloading = done
      return done
    },
    stop: () =>
      (stopping ??= (async () => {
        await reloading.catch(() => undefined)
        await Promise.all(syncs.map((s) => s.stop()))
        await group?.close()
        await group?.close()
        await slotMonitor.close()
        await alerts.close()
        debuggerFeed?.close()
        await http?.close()
      })()),
  }
}
