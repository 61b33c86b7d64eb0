import { isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { OperatorFunction } from 'rxjs'
import { createKafkaClient } from '../connectors/kafka/client.ts'
import { createAlerts } from '../observability/alerts/notifier.ts'
import type { Batch, OutgoingMessage } from '../core/changes.ts'
import type { RowcastConfig } from '../config/load-config.ts'
import { createDebuggerFeed, type DebuggerFeed } from '../observability/debugger/debugger-feed.ts'
import { ConfigError } from '../core/errors.ts'
import { startHttpServer, type HttpServer } from '../observability/http-server.ts'
import { createLogger, type Logger } from '../core/logger.ts'
import { createMetrics } from '../observability/metrics.ts'
import type { PipelineComposer } from '../pipeline/steps.ts'
import { DeliveryRecords } from '../pipeline/delivery-records.ts'
import { SyncSupervisor } from '../pipeline/supervisor.ts'
import { syncEdges } from '../pipeline/sync-edges.ts'
import { translatePgError } from '../connectors/postgres/errors.ts'
import { Telemetry } from '../core/telemetry.ts'

export interface DaemonOptions {
  logger?: Logger
  /** Folder that relative `operators:` module paths are resolved against (the config file's). */
  baseDir?: string
  /** Per sync name: how its built-in steps are composed, to put custom operators between them. */
  pipelines?: Record<string, PipelineComposer>
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
  const logger = options.logger ?? createLogger()
  const telemetry = new Telemetry()
  const metrics = createMetrics(telemetry)
  const debuggerOn = config.http?.debuggerToken !== undefined && config.http.debuggerToken !== ''
  const debuggerFeed: DebuggerFeed | null = debuggerOn ? createDebuggerFeed({ config: config.debugger, telemetry }) : null
  const alerts = createAlerts({ config: config.alerts, thresholds: config.alertThresholds, telemetry, logger })
  const http: HttpServer | null = config.http === undefined ? null : await startHttpServer({ config: config.http, telemetry, metrics, debuggerFeed, logger })
  if (http !== null) logger.info({ url: http.url }, 'HTTP endpoint listening (/metrics, /healthz, /readyz' + (debuggerOn ? ', /debugger)' : ')'))

  const kafka = createKafkaClient(config.destination.kafka, logger)
  const syncs: SyncSupervisor[] = []
  for (const [index, sync] of config.syncs.entries()) {
    const extraOperators = await loadOperators(sync.operators, options.baseDir ?? process.cwd(), index)
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
        baseDir: options.baseDir ?? process.cwd(),
        extraOperators,
        records,
        logger: syncLogger,
        ...(config.destination.schemaRegistry === undefined ? {} : { schemaRegistry: config.destination.schemaRegistry }),
        ...(options.pipelines?.[sync.name] === undefined ? {} : { pipeline: options.pipelines[sync.name] }),
      }),
    })
    syncs.push(supervisor)
  }
  for (const sync of syncs) sync.start()

  let stopping: Promise<void> | null = null
  return {
    telemetry,
    syncs,
    url: http?.url ?? null,
    stop: () =>
      (stopping ??= (async () => {
        await Promise.all(syncs.map((s) => s.stop()))
        await alerts.close()
        debuggerFeed?.close()
        await http?.close()
      })()),
  }
}

let typeScriptLoader = false
/**
 * Node cannot import TypeScript: the first operator module named with a .ts/.mts/.cts file registers tsx's loader
 * (a dependency), once per process. Where tsx is already on (`node --import tsx`), a second registration is harmless.
 */
async function typeScriptLoaderFor(file: string): Promise<void> {
  if (typeScriptLoader || !/\.[cm]?ts$/.test(file)) return
  const { register } = await import('tsx/esm/api')
  register()
  typeScriptLoader = true
}

type MessageOperator = OperatorFunction<Batch<OutgoingMessage>, Batch<OutgoingMessage>>

/** Imports each `operators:` module; its default export (or `operator`) must be an OperatorFunction. */
async function loadOperators(paths: readonly string[], baseDir: string, index: number): Promise<MessageOperator[]> {
  const operators: MessageOperator[] = []
  for (const [i, path] of paths.entries()) {
    const file = isAbsolute(path) ? path : resolve(baseDir, path)
    let loaded: Record<string, unknown>
    try {
      await typeScriptLoaderFor(file)
      loaded = (await import(pathToFileURL(file).href)) as Record<string, unknown>
    } catch (error) {
      throw new ConfigError([{ path: `syncs[${index}].operators[${i}]`, message: `cannot load ${file}: ${(error as Error).message}` }])
    }
    const operator = loaded.default ?? loaded.operator
    if (typeof operator !== 'function') {
      throw new ConfigError([{ path: `syncs[${index}].operators[${i}]`, message: `${file} must export an RxJS OperatorFunction as default (or as "operator")` }])
    }
    operators.push(operator as MessageOperator)
  }
  return operators
}
