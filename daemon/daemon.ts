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
import { SyncRunner } from '../pipeline/attempt.ts'
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
  syncs: SyncRunner[]
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
  const syncs: SyncRunner[] = []
  for (const [index, sync] of config.syncs.entries()) {
    const extraOperators = await loadOperators(sync.operators, options.baseDir ?? process.cwd(), index)
    syncs.push(
      new SyncRunner({
        sync,
        index,
        postgres: config.source.postgres,
        kafka,
        limits: { ...config.limits, retryInitialMs: 200 },
        progressTopic: config.destination.progressTopic,
        telemetry,
        logger,
        extraOperators,
        baseDir: options.baseDir ?? process.cwd(),
        ...(config.destination.schemaRegistry === undefined ? {} : { schemaRegistry: config.destination.schemaRegistry }),
        ...(options.pipelines?.[sync.name] === undefined ? {} : { pipeline: options.pipelines[sync.name] }),
        ...(options.failedRetryMs === undefined ? {} : { failedRetryMs: options.failedRetryMs }),
      }),
    )
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
/** From the bundle (plain node) a TypeScript operator needs tsx's loader; from the sources tsx is already on. */
async function typeScriptLoaderFor(file: string): Promise<void> {
  if (typeScriptLoader || !/\.[cm]?ts$/.test(file) || import.meta.url.endsWith('.ts')) return
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
