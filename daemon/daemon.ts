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
   * changed ones are stopped (drained, confirmed) and started anew, removed ones stop (a dedicated sync's slot is
   * kept; a shared sync leaves its stream group, whose slot no longer waits for it). Shared syncs join and leave
   * the running stream group: no new slot, the other syncs of the group go on.
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
  const postgres = config.source.postgres
  const sharedOf = (syncs: readonly SyncConfig[]) => syncs.filter((sync) => sync.stream === 'shared')
  // Made when the first shared sync starts (at start, or added by a reload); kept until the daemon stops.
  let group: StreamGroup | undefined
  const groupOf = (syncs: readonly SyncConfig[]) => (group ??= new StreamGroup({
    url: postgres.url,
    slot: postgres.streamGroup.slot,
    syncs: syncs.map((sync) => sync.name),
    heartbeatIntervalMs: postgres.heartbeatIntervalMs,
    statusIntervalMs: postgres.statusIntervalMs,
    takeoverTimeoutMs: postgres.takeoverTimeoutMs,
    failoverSlots: postgres.failoverSlots,
    parkAfterMs: postgres.streamGroup.parkAfterMs,
    origin: postgres.origin,
    logger: logger.child({ component: 'stream-group', group: postgres.streamGroup.slot }),
  }))
  const shared = sharedOf(config.syncs)
  if (shared.length > 0) groupOf(shared)
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
        ...(sync.stream === 'shared' ? { group: groupOf([]) } : {}),
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
    checkOperatorOptions(next.syncs.map((sync) => sync.name), options.operators ?? {})
    registerSecrets(secretsOf(next))
    const leaving = new Set([...diff.removed, ...diff.changed.map((sync) => sync.name)])
    const stopped = syncs.filter((supervisor) => leaving.has(supervisor.name))
    // Stopped first (drained and confirmed, like a daemon stop), so a changed sync's new run starts from its confirmed position.
    await Promise.all(stopped.map((supervisor) => supervisor.stop()))
    for (const supervisor of stopped) syncs.splice(syncs.indexOf(supervisor), 1)
    const removed = running.syncs.filter((sync) => diff.removed.includes(sync.name))
    for (const sync of removed) telemetry.emit('syncRemoved', { sync: sync.name })
    await changeGroupMembers(running.syncs, next.syncs)
    running = next
    for (const sync of [...diff.changed, ...diff.added]) syncs.push(await startSync(sync, next.syncs.indexOf(sync)))
    for (const sync of removed.filter((s) => s.stream !== 'shared')) {
      const slot = slotName(sync)
      logger.warn({ sync: sync.name, slot }, `sync removed from the config: stopped; its replication slot ${slot} is kept (PostgreSQL retains WAL for it): drop it with SELECT pg_drop_replication_slot('${slot}') if the sync is gone for good`)
    }
    return diff
  }

  /**
   * The stream group follows a reload, once the syncs leaving have stopped: a shared sync gone (or now dedicated)
   * leaves it (its cursor no longer holds the slot; its table leaves the group's publication when no shared sync
   * reads it any more), a new shared sync joins it (no new slot: its backfill runs beside the group's stream). A
   * changed sync that stays shared keeps its cursor, so its new run resumes from it.
   */
  const changeGroupMembers = async (before: readonly SyncConfig[], after: readonly SyncConfig[]): Promise<void> => {
    const was = new Set(sharedOf(before).map((sync) => sync.name))
    const now = sharedOf(after)
    for (const sync of sharedOf(before).filter((s) => !now.some((n) => n.name === s.name))) await group?.leave(sync.name)
    for (const sync of now.filter((s) => !was.has(s.name))) groupOf(now).join(sync.name)
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
        await slotMonitor.close()
        await alerts.close()
        debuggerFeed?.close()
        await http?.close()
      })()),
  }
}
