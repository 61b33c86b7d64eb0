import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { ConfigError, type ConfigIssue } from '../core/errors.ts'
import { collectingSecrets } from '../core/secret-field.ts'
import { withSecrets } from '../core/secrets.ts'
import { rootConfigSchema, type RowcastConfig } from './root-schema.ts'

/**
 * Reads, interpolates and validates a config file; throws ConfigError listing every problem with its path.
 * The result is deeply frozen; the secrets it resolved are `secretsOf(config)` (or `secretsOf(error)`).
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): RowcastConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError([{ path: file, message: `cannot read the config file: ${(error as Error).message}` }])
  }
  return parseConfig(text, dirname(resolve(file)), env)
}

/** `loadConfig` for YAML text; `baseDir` is where relative file names in it are read from. Registers nothing. */
export function parseConfig(text: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): RowcastConfig {
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (error) {
    throw new ConfigError([{ path: '(yaml)', message: (error as Error).message }])
  }
  const issues: ConfigIssue[] = []
  const secrets: string[] = []
  const interpolated = interpolate(raw, env, '', issues)
  // Which values are secrets is the schema's to say (`secret(...)` fields): inline or from the environment alike.
  const collect = (value: string) => void secrets.push(value)
  const parsed = collectingSecrets(collect, () => rootConfigSchema(baseDir, collect).safeParse(interpolated))
  if (!parsed.success) issues.push(...parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })))
  // A failed parse still names its secrets: the problems printed about it must not show them.
  if (issues.length > 0) throw withSecrets(new ConfigError(issues), secrets)
  return withSecrets(deepFreeze((parsed as { data: RowcastConfig }).data), secrets)
}

/** Replaces `${VAR}` in every string value (never in keys). */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: string, issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
      const resolved = env[name]
      if (resolved === undefined) {
        issues.push({ path: path || '(root)', message: `environment variable ${name} is not set` })
        return ''
      }
      return resolved
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, `${path}[${i}]`, issues))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, path ? `${path}.${k}` : k, issues)]))
  }
  return value
}

function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '') || '(root)'
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
