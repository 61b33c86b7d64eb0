import { pino, type DestinationStream, type Logger } from 'pino'
import { redactSecrets } from './secrets.ts'

export type { Logger }

/**
 * The one root logger. JSON to stdout by default; `ROWCAST_LOG_PRETTY=1` (the demo) makes it human-readable.
 * Components take `logger.child({ component, sync })`. Secrets are scrubbed here, whatever a caller logs: fields
 * named like credentials are censored (pino redaction), and every registered secret (core/secrets.ts) is replaced
 * in the finished line, so an error message or an object from a library cannot carry one out.
 */
export function createLogger(options: { level?: string; pretty?: boolean; destination?: DestinationStream } = {}): Logger {
  const level = options.level ?? process.env.ROWCAST_LOG_LEVEL ?? 'info'
  const pretty = options.pretty ?? process.env.ROWCAST_LOG_PRETTY === '1'
  const settings = {
    level,
    base: { pid: process.pid },
    redact: { paths: CREDENTIAL_FIELDS, censor: '[redacted]' },
    hooks: { streamWrite: redactSecrets },
    ...(pretty && options.destination === undefined ? { transport: { target: 'pino-pretty', options: { colorize: false, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  }
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination)
}

/** Fields that hold a credential wherever they appear in a logged object (top level or one level down). */
const CREDENTIAL_FIELDS = ['password', 'token', 'secretAccessKey', 'sessionToken', 'routingKey', 'debuggerToken', 'headers.authorization', 'headers.Authorization']
  .flatMap((field) => [field, `*.${field}`])
