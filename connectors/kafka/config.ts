/**
 * The Kafka connection config (`destination.kafka`): client ID, brokers, SASL authentication, TLS.
 *
 * Use `kafkaConfigSchema(baseDir)` inside the root schema, or `parseKafkaConfig(input, baseDir)` on its own.
 * `baseDir` is the config file's folder: secret files named in `auth` (`passwordFile`, …) and a `tls.ca`
 * path are read relative to it, once, while parsing. Every secret value the schema resolves (inline or from
 * a file) is passed to `onSecret`; parsing registers nothing itself (`parseKafkaConfig` hands them back
 * through `secretsOf(config)`). The SASL mechanisms, their fields and secrets live in `./auth/`.
 * A mechanism that exposes its credentials without TLS (PLAIN, aws-iam, aws-msk-iam) needs `tls` or an
 * explicit `allowPlaintextCredentials: true`.
 * `${VAR}` interpolation happens before this schema sees the values (the root loader's job).
 *
 * TLS is always verified (chain and host name); there is deliberately no option to turn that off.
 */
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { resolve } from 'node:path'
import { z } from 'zod'
import { ConfigError } from '../../core/errors.ts'
import { withSecrets } from '../../core/secrets.ts'
import { authFields } from './auth/fields.ts'
import { SASL_MECHANISM_NAMES, saslMechanism, type KafkaAuth } from './auth/mechanisms.ts'

export type { AwsIamAuth } from './auth/aws-iam.ts'
export type { AwsMskIamAuth } from './auth/aws-msk-iam.ts'
export type { KafkaAuth } from './auth/mechanisms.ts'
export type { PasswordAuth, SaslPasswordMechanism } from './auth/password.ts'

export interface KafkaTls {
  /** PEM text of the CA(s) to trust instead of the system trust store. */
  ca?: string
  /** Where `ca` came from (absolute path, or "inline PEM"), for error messages. */
  caSource?: string
  /** Host name to verify the certificate against (and to send as SNI) instead of the broker's host. */
  servername?: string
}

export interface KafkaConnectionConfig {
  clientId: string
  /** Normalised `host:port` items; IPv6 hosts stay in brackets: `[::1]:9092`. */
  brokers: string[]
  auth?: KafkaAuth
  /** Absent: plaintext. `{}`: TLS against the system trust store. */
  tls?: KafkaTls
  connectionTimeoutMs?: number
  requestTimeoutMs?: number
}

export function kafkaConfigSchema(baseDir: string, onSecret: (value: string) => void): z.ZodType<KafkaConnectionConfig, z.ZodTypeDef, unknown> {
  const fields = authFields(baseDir, onSecret)
  // Only the mechanism is checked here; the mechanism's own strict schema runs in the transform below.
  const auth = z
    .object({ mechanism: z.enum(SASL_MECHANISM_NAMES, { errorMap: () => ({ message: `mechanism must be one of: ${SASL_MECHANISM_NAMES.join(', ')}` }) }) })
    .passthrough()
    .transform((value, ctx): KafkaAuth => {
      const parsed = saslMechanism(value.mechanism).schema(fields).safeParse(value)
      if (parsed.success) return parsed.data
      for (const issue of parsed.error.issues) ctx.addIssue(issue)
      return z.NEVER
    })

  const tls = z
    .union([z.boolean(), z.object({ ca: z.string().min(1).optional(), servername: z.string().min(1).optional() }).strict()])
    .transform((value, ctx) => (value === false ? undefined : resolveTls(value === true ? {} : value, baseDir, ctx)))

  const brokers = z.union([z.string(), z.array(z.string())]).transform((value, ctx) => {
    const parsed = parseBrokerList(value)
    for (const message of parsed.errors) ctx.addIssue({ code: 'custom', message })
    return parsed.brokers
  })

  // Each field resolves itself, so that one bad field does not hide the problems of the others.
  return z
    .object({
      clientId: z.string().min(1).default('rowcast'),
      brokers,
      auth: auth.optional(),
      tls: tls.optional(),
      connectionTimeoutMs: z.number().int().positive().optional(),
      requestTimeoutMs: z.number().int().positive().optional(),
      /** Accept a mechanism that exposes its credentials on a listener without TLS (PLAIN, aws-iam, aws-msk-iam). */
      allowPlaintextCredentials: z.boolean().optional(),
    })
    .strict()
    .transform((value, ctx): KafkaConnectionConfig => {
      const exposed = value.auth === undefined ? undefined : saslMechanism(value.auth.mechanism).exposedWithoutTls
      if (exposed !== undefined && value.tls === undefined && value.allowPlaintextCredentials !== true) {
        ctx.addIssue({
          code: 'custom',
          path: ['auth', 'mechanism'],
          message: `${exposed}: without TLS it is readable by anyone on the network path. Connect to the broker's SASL_SSL listener (destination.kafka.tls), or set destination.kafka.allowPlaintextCredentials: true to accept that`,
        })
      }
      const out: KafkaConnectionConfig = { clientId: value.clientId, brokers: value.brokers }
      if (value.auth !== undefined) out.auth = value.auth
      if (value.tls !== undefined) out.tls = value.tls
      if (value.connectionTimeoutMs !== undefined) out.connectionTimeoutMs = value.connectionTimeoutMs
      if (value.requestTimeoutMs !== undefined) out.requestTimeoutMs = value.requestTimeoutMs
      return out
    })
}

/**
 * Parses on its own (tests, tools); throws ConfigError with every problem, paths under `pathPrefix`.
 * The secrets it resolved come back through `secretsOf(result)` (or `secretsOf(error)`).
 */
export function parseKafkaConfig(input: unknown, baseDir: string, pathPrefix = 'destination.kafka'): KafkaConnectionConfig {
  const secrets: string[] = []
  const result = kafkaConfigSchema(baseDir, (value) => secrets.push(value)).safeParse(input)
  if (result.success) return withSecrets(result.data, secrets)
  throw withSecrets(new ConfigError(result.error.issues.map((issue) => ({ path: [pathPrefix, ...issue.path].join('.'), message: issue.message }))), secrets)
}

/**
 * Splits a broker list ("b1:9092, b2:9092", "[::1]:9092", or an array of such) into normalised `host:port` items.
 * Empty items (a trailing comma) are ignored; anything else that is not host:port is an error naming the item.
 */
export function parseBrokerList(value: string | string[]): { brokers: string[]; errors: string[] } {
  const items = (Array.isArray(value) ? value : [value]).flatMap((part) => part.split(',')).map((item) => item.trim()).filter((item) => item !== '')
  const brokers: string[] = []
  const errors: string[] = []
  for (const item of items) {
    const problem = brokerProblem(item)
    if (problem === undefined) brokers.push(item)
    else errors.push(`"${item}" is not a broker address: ${problem}`)
  }
  if (items.length === 0) errors.push('at least one broker is needed, as host:port (several separated by commas)')
  return { brokers, errors }
}

/** `host` and `port` of a normalised broker item; IPv6 hosts come back without brackets. */
export function splitBroker(broker: string): { host: string; port: number } {
  const colon = broker.lastIndexOf(':')
  const host = broker.slice(0, colon)
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(broker.slice(colon + 1)) }
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?$/

function brokerProblem(item: string): string | undefined {
  if (/^[a-z][a-z0-9+._-]*:\/\//i.test(item)) return 'leave out the scheme (write host:port)'
  const bracketed = /^\[([^\]]+)\]:(.*)$/.exec(item)
  let host: string
  let port: string
  if (bracketed) {
    host = bracketed[1]
    port = bracketed[2]
    if (isIP(host) !== 6) return `"${host}" in brackets is not an IPv6 address`
  } else {
    const colon = item.lastIndexOf(':')
    if (colon < 0) return 'the port is missing (write host:port)'
    host = item.slice(0, colon)
    port = item.slice(colon + 1)
    if (host.includes(':')) return 'put an IPv6 address in brackets, like [::1]:9092'
    if (host === '') return 'the host is missing'
    if (!HOSTNAME.test(host)) return `"${host}" is not a valid host name`
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return `the port "${port}" must be a number from 1 to 65535`
  return undefined
}

function resolveTls(tls: { ca?: string; servername?: string }, baseDir: string, ctx: z.RefinementCtx): KafkaTls {
  const out: KafkaTls = {}
  if (tls.servername !== undefined) out.servername = tls.servername
  if (tls.ca === undefined) return out
  if (tls.ca.includes('-----BEGIN')) {
    out.ca = tls.ca
    out.caSource = 'the inline tls.ca PEM'
  } else {
    const path = resolve(baseDir, tls.ca)
    try {
      out.ca = readFileSync(path, 'utf8')
      out.caSource = path
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['ca'], message: `cannot read CA file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` })
      return out
    }
  }
  if (!out.ca.includes('-----BEGIN CERTIFICATE-----')) {
    ctx.addIssue({ code: 'custom', path: ['ca'], message: `${out.caSource} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` })
  }
  return out
}
