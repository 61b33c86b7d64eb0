/**
 * Every secret the config resolved (from `${VAR}` or a `*File:` reference) is registered here, so that
 * anything leaving the process — logs, errors, `validate`/`check` output, the debugger — can be scrubbed.
 */
const secrets = new Set<string>()

/** Values shorter than this are not scrubbed: replacing "1" everywhere would ruin output and hide nothing. */
const MIN_SECRET_LENGTH = 4

export function registerSecret(value: string): void {
  if (value.length >= MIN_SECRET_LENGTH) secrets.add(value)
}

export function redactSecrets(text: string): string {
  let out = text
  for (const secret of secrets) if (out.includes(secret)) out = out.split(secret).join('[redacted]')
  return out
}
