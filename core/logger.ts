import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * The one root logger. JSON to stdout by default; `ROWCAST_LOG_PRETTY=1` (the demo) makes it human-readable.
 * Components take `logger.child({ component, sync })`. Secrets never reach it: configs are logged only redacted.
 */
export function createLogger(options: { level?: string; pretty?: boolean } = {}): Logger {
  const level = options.level ?? process.env.ROWCAST_LOG_LEVEL ?? 'info'
  const pretty = options.pretty ?? process.env.ROWCAST_LOG_PRETTY === '1'
  return pino({
    level,
    base: { pid: process.pid },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: false, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  })
}
