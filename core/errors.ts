/**
 * The one error base of rowcast. `code` is stable (documented, safe to alert on);
 * `retriable` says whether retrying the same work can succeed. Unknown errors are not retriable.
 */
export class RowcastError extends Error {
  readonly code: string
  readonly retriable: boolean

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'RowcastError'
    this.code = code
    this.retriable = options.retriable ?? false
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

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
