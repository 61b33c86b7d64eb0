/**
 * The local stack's connection details, for tests, the demo and benchmarks.
 * `ensureStack()` runs `bash scripts/stack.sh up` (a fast no-op when the stack is up) and
 * reads `.stack/env`, the shell-sourceable KEY=value file that `up` writes.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'

const stackKeys = [
  'ROWCAST_PG_URL',
  'PG_NOREPL_URL',
  'PG_PORT',
  'PG_BIN',
  'KAFKA_VERSION',
  'KAFKA_LIB',
  'KAFKA_BOOTSTRAP_PLAINTEXT',
  'KAFKA_BOOTSTRAP_SASL_PLAINTEXT',
  'KAFKA_BOOTSTRAP_SSL',
  'KAFKA_BOOTSTRAP_SASL_SSL',
  'KAFKA_CA_FILE',
  'KAFKA_OTHER_CA_FILE',
  'KAFKA_PLAIN_USER',
  'KAFKA_PLAIN_PASSWORD',
  'KAFKA_SCRAM256_USER',
  'KAFKA_SCRAM256_PASSWORD',
  'KAFKA_SCRAM512_USER',
  'KAFKA_SCRAM512_PASSWORD',
] as const

export const stackEnvSchema = z
  .object(Object.fromEntries(stackKeys.map((key) => [key, z.string().min(1)])) as Record<(typeof stackKeys)[number], z.ZodString>)
  .catchall(z.string())

/**
 * Every key `stack.sh up` writes (see scripts/stack/lib.sh), as strings; other keys that
 * helper scripts add to .stack/env (e.g. SCHEMA_REGISTRY_URL from scripts/registry.sh) are
 * kept too, and may be absent.
 */
export type StackEnv = Readonly<Record<(typeof stackKeys)[number], string> & Record<string, string>>

/** The repository root (this file lives in <root>/scripts). */
export const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)))
export const stackEnvFile = join(repoRoot, '.stack', 'env')

let starting: Promise<StackEnv> | undefined

/** Starts the stack if needed (once per process) and returns its connection details. */
export function ensureStack(): Promise<StackEnv> {
  starting ??= runStackUp().then(
    () => readStackEnv(),
    (error: unknown) => {
      starting = undefined
      throw error
    },
  )
  return starting
}

/** Reads .stack/env as written by the last `stack.sh up`; throws when it is missing or incomplete. */
export function readStackEnv(file: string = stackEnvFile): StackEnv {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new Error(`cannot read ${file}: start the stack with \`npm run stack:up\` (${String(error)})`, { cause: error })
  }
  const parsed = stackEnvSchema.safeParse(parseEnvText(text))
  if (!parsed.success) {
    const missing = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ')
    throw new Error(`${file} lacks ${missing}: re-run \`npm run stack:up\``)
  }
  return Object.freeze(parsed.data) as StackEnv
}

/** Parses shell `KEY=value` lines: unquoted, 'single-quoted' (with '\'' escapes) or "double-quoted" values. */
export function parseEnvText(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (match) env[match[1]] = unquote(match[2].trimEnd())
  }
  return env
}

function unquote(raw: string): string {
  let out = ''
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]
    if (c === "'") {
      const end = raw.indexOf("'", i + 1)
      out += raw.slice(i + 1, end === -1 ? undefined : end)
      i = end === -1 ? raw.length : end
    } else if (c === '"') {
      const end = raw.indexOf('"', i + 1)
      out += raw.slice(i + 1, end === -1 ? undefined : end)
      i = end === -1 ? raw.length : end
    } else if (c === '\\' && i + 1 < raw.length) {
      out += raw[++i]
    } else {
      out += c
    }
  }
  return out
}

function runStackUp(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [join(repoRoot, 'scripts', 'stack.sh'), 'up'],
      { cwd: repoRoot, timeout: 15 * 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        if (error) reject(new Error(`bash scripts/stack.sh up failed (${error.message.split('\n')[0]}):\n${stderr.trim()}`, { cause: error }))
        else resolve()
      },
    )
  })
}
