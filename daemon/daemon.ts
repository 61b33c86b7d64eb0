import { createKafkaClient } from '../connectors/kafka/client.ts'
import { createAlerts } from '../observability/alerts/notifier.ts'
import type { RowcastConfig } from '../config/root-schema.ts'
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
import { Telemetry } from '../core/telemetry.ts'
import { registerSecrets, secretsOf } from '../core/secrets.ts'
import { checkOperatorOptions, loadOperators } from './load-operators.ts'

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
  const syncs: SyncSupervisor[] = []
  for (const [index, sync] of config.syncs.entries()) {
    const operators = mergeInsertions(options.operators?.[sync.name] ?? {}, await loadOperators(sync.operators, options.baseDir ?? process.cwd(), index))
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
        postgres: config.source.postgres,
        kafka,
        limits: { ...config.limits, retryInitialMs: 200 },
        progressTopic: config.destination.progressTopic,
        ...(config.destination.exactlyOnce === undefined ? {} : { namespace: config.destination.exactlyOnce.namespace }),
        operators,
        baseDir: options.baseDir ?? process.cwd(),
        records,
        logger: syncLogger,
        ...(group === undefined ? {} : { group }),
        ...(config.destination.schemaRegistry === undefined ? {} : { schemaRegistry: config.destination.schemaRegistry }),
      }),
    })
    syncs.push(supervisor)
  }
  for (const sync of syncs) sync.start()
  // Lag, retained WAL and slot statistics from the server's view, on a timer: they move even while a sync is stuck.
  const slotMonitor = startSlotMonitor({
    syncs: config.syncs.map((sync) => (sync.stream === 'shared' ? { sync: sync.name, slot: postgres.streamGroup.slot, shared: true } : { sync: sync.name, slot: slotName(sync) })),
    reader: createSlotReader(config.source.postgres.url),
    telemetry,
    logger: logger.child({ component: 'slot-monitor' }),
    intervalMs: config.source.postgres.slotCheckIntervalMs,
  })

  let stopping: Promise<void> | null = null
  return {
    telemetry,
    syncs,
    url: http?.url ?? null,
    stop: () =>
      (stopping ??= (async () => {
        await Promise.all(syncs.map((s) => s.stop()))
        await group?.close()
        await slotMonitor.close()
        await alerts.close()
        debuggerFeed?.close()
        await http?.close()
      })()),
  }
}
