/**
 * Secret values (from `${VAR}` or a `*File:` reference in the config) must never leave the process in clear.
 * Parsing is pure: it hands back the secrets it resolved next to its result (`secretsOf`). Whoever prints or
 * logs — the daemon at start, the CLI's commands — registers them (`registerSecrets`), and from then on
 * `redactSecrets` scrubs them from logs, errors, `validate`/`check` output and the debugger.
 */
const secrets = new Set<string>()

/** The secrets resolved while producing a result: a parsed config, or the ConfigError of a failed parse. */
const resolvedBy = new WeakMap<object, readonly string[]>()

/** Values shorter than this are not scrubbed: replacing "1" everywhere would ruin output and hide nothing. */
const MIN_SECRET_LENGTH = 4

export function registerSecret(value: string): void {
  if (value.length >= MIN_SECRET_LENGTH) secrets.add(value)
}

export function registerSecrets(values: Iterable<string>): void {
  for (const value of values) registerSecret(value)
}

export function redactSecrets(text: string): string {
  let out = text
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[redacted]')
  return out
}

/** Records which secrets were resolved to produce `result`; returns `result`. */
export function withSecrets<T extends object>(result: T, values: Iterable<string>): T {
  resolvedBy.set(result, [...new Set([...(resolvedBy.get(result) ?? []), ...values])])
  return result
}

/** The secrets resolved to produce `result` (a parsed config or its ConfigError); none when it came from elsewhere. */
export function secretsOf(result: object): readonly string[] {
  return resolvedBy.get(result) ?? []
}
