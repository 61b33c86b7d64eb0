import { ERROR_CODES, type ErrorCode } from './error-codes.ts'
import { redactSecrets } from './secrets.ts'

/**
 * The one error base of rowcast. `code` is one of core/error-codes.ts (stable, documented, safe to alert on);
 * `retriable` says whether retrying the same work can succeed: the code's own flag, given per case only for
 * codes whose flag `varies`. Unknown errors are not retriable.
 */
export class RowcastError extends Error {
  readonly code: ErrorCode
  readonly retriable: boolean
  /** The stream position the failure is stuck at (a row error's LSN), when known: recovery means delivering past it. */
  readonly position: bigint | undefined

  constructor(code: ErrorCode, message: string, options: { retriable?: boolean; cause?: unknown; position?: bigint } = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause }) // messages reach logs, alerts, /readyz
    this.name = 'RowcastError'
    this.code = code
    const flag = ERROR_CODES[code].retriable
    this.retriable = flag === 'varies' ? (options.retriable ?? false) : flag
    this.position = options.position
  }

  /** What the user can do about it. */
  get hint(): string {
    return ERROR_CODES[this.code].hint
  }
}

/** A problem in the config file, with the path inside it (e.g. `syncs[0].message.mapping`). */
export interface ConfigIssue {
  path: string
  message: string
}

export class ConfigError extends RowcastError {
  readonly issues: readonly ConfigIssue[]

  constructor(issues: readonly ConfigIssue[]) {
    super('CONFIG_INVALID', issues.map((i) => `${i.path}: ${i.message}`).join('\n'))
    this.name = 'ConfigError'
    this.issues = issues
  }
}

export function isRetriable(error: unknown): boolean {
  return error instanceof RowcastError && error.retriable
}

/** An error's message, registered secrets scrubbed (a library's error may quote a URL or a credential). */
export function errorMessage(error: unknown): string {
  return redactSecrets(error instanceof Error ? error.message : String(error))
}
