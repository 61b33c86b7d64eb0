/**
 * The Kafka connection config (`destination.kafka`): client ID, brokers, SASL authentication, TLS.
 *
 * Use `kafkaConfigSchema(baseDir)` inside the root schema, or `parseKafkaConfig(input, baseDir)` on its own.
 * `baseDir` is the config file's folder: `passwordFile`, `secretAccessKeyFile`, `sessionTokenFile` and a
 * `tls.ca` path are read relative to it, once, while parsing. Every secret value the schema resolves
 * (password, secretAccessKey, sessionToken — inline or from a file) is passed to `onSecret`; parsing
 * registers nothing itself (`parseKafkaConfig` hands them back through `secretsOf(config)`).
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

export type SaslPasswordMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512'

export interface PasswordAuth {
  mechanism: SaslPasswordMechanism
  username: string
  password: string
}

/** The Kafka AWS IAM LoginModule (kafkajs mechanism 'aws'). */
export interface AwsIamAuth {
  mechanism: 'aws-iam'
  authorizationIdentity: string
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

/** Amazon MSK IAM (SASL OAUTHBEARER with a SigV4-signed token). Without explicit keys: the AWS env/profile chain. */
export interface AwsMskIamAuth {
  mechanism: 'aws-msk-iam'
  region: string
  accessKeyId?: string
  secretAccessKey?: string
  sessionToken?: string
  /** Shared-credentials profile to use when no keys are given (default: $AWS_PROFILE or "default"). */
  profile?: string
}

export type KafkaAuth = PasswordAuth | AwsIamAuth | AwsMskIamAuth

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
  const secret = secretField(baseDir, onSecret)
  const passwordAuth = (mechanism: SaslPasswordMechanism) =>
    z
      .object({
        mechanism: z.literal(mechanism),
        username: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
      })
      .strict()
      .transform((value, ctx): PasswordAuth => ({
        mechanism,
        username: need(value, 'username', ctx),
        password: secret(value, 'password', ctx, true) ?? '',
      }))

  const awsIamAuth = z
    .object({
      mechanism: z.literal('aws-iam'),
      authorizationIdentity: z.string().min(1).optional(),
      accessKeyId: z.string().min(1).optional(),
      secretAccessKey: z.string().min(1).optional(),
      secretAccessKeyFile: z.string().min(1).optional(),
      sessionToken: z.string().min(1).optional(),
      sessionTokenFile: z.string().min(1).optional(),
    })
    .strict()
    .transform((value, ctx): AwsIamAuth => {
      const sessionToken = secret(value, 'sessionToken', ctx, false)
      return {
        mechanism: 'aws-iam',
        authorizationIdentity: need(value, 'authorizationIdentity', ctx),
        accessKeyId: need(value, 'accessKeyId', ctx),
        secretAccessKey: secret(value, 'secretAccessKey', ctx, true) ?? '',
        ...(sessionToken === undefined ? {} : { sessionToken }),
      }
    })

  const awsMskIamAuth = z
    .object({
      mechanism: z.literal('aws-msk-iam'),
      region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1').optional(),
      accessKeyId: z.string().min(1).optional(),
      secretAccessKey: z.string().min(1).optional(),
      secretAccessKeyFile: z.string().min(1).optional(),
      sessionToken: z.string().min(1).optional(),
      sessionTokenFile: z.string().min(1).optional(),
      profile: z.string().min(1).optional(),
    })
    .strict()
    .transform((value, ctx): AwsMskIamAuth => {
      const secretAccessKey = secret(value, 'secretAccessKey', ctx, false)
      const sessionToken = secret(value, 'sessionToken', ctx, false)
      if ((value.accessKeyId === undefined) !== (secretAccessKey === undefined)) {
        ctx.addIssue({ code: 'custom', message: 'give both accessKeyId and secretAccessKey, or neither (to use the AWS credential chain)' })
      }
      if (value.profile !== undefined && value.accessKeyId !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['profile'], message: 'profile and explicit accessKeyId exclude each other' })
      }
      return {
        mechanism: 'aws-msk-iam',
        region: need(value, 'region', ctx),
        ...(value.accessKeyId === undefined ? {} : { accessKeyId: value.accessKeyId }),
        ...(secretAccessKey === undefined ? {} : { secretAccessKey }),
        ...(sessionToken === undefined ? {} : { sessionToken }),
        ...(value.profile === undefined ? {} : { profile: value.profile }),
      }
    })

  const authTransforms = {
    plain: passwordAuth('plain'),
    'scram-sha-256': passwordAuth('scram-sha-256'),
    'scram-sha-512': passwordAuth('scram-sha-512'),
    'aws-iam': awsIamAuth,
    'aws-msk-iam': awsMskIamAuth,
  } as const
  // Only the mechanism is checked here; the per-mechanism strict schema runs in the transform below.
  const auth = z
    .object({ mechanism: z.enum(MECHANISMS, { errorMap: () => ({ message: `mechanism must be one of: ${MECHANISMS.join(', ')}` }) }) })
    .passthrough()
    .transform((value, ctx): KafkaAuth => {
      const parsed = authTransforms[value.mechanism].safeParse(value)
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
    })
    .strict()
    .transform((value): KafkaConnectionConfig => {
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

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'aws-iam', 'aws-msk-iam'] as const
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

/** A field every config of this mechanism needs (checked here, not by zod, so that all missing ones are reported). */
function need(value: Record<string, unknown>, name: string, ctx: z.RefinementCtx): string {
  const found = value[name]
  if (typeof found === 'string') return found
  ctx.addIssue({ code: 'custom', path: [name], message: `${name} is required for mechanism ${String(value.mechanism)}` })
  return ''
}

/** Reads `<name>` or `<name>File` (exactly one when required, at most one otherwise) and reports the value as a secret. */
function secretField(baseDir: string, onSecret: (value: string) => void) {
  return (value: Record<string, unknown>, name: string, ctx: z.RefinementCtx, required: boolean): string | undefined => {
    const inline = value[name] as string | undefined
    const file = value[`${name}File`] as string | undefined
    if (inline !== undefined && file !== undefined) {
      ctx.addIssue({ code: 'custom', path: [`${name}File`], message: `give ${name} or ${name}File, not both` })
      return undefined
    }
    if (inline === undefined && file === undefined) {
      if (required) ctx.addIssue({ code: 'custom', path: [name], message: `${name} (or ${name}File) is required for mechanism ${String(value.mechanism)}` })
      return undefined
    }
    let secret = inline
    if (file !== undefined) {
      try {
        secret = readFileSync(resolve(baseDir, file), 'utf8').replace(/\r?\n$/, '')
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: [`${name}File`], message: `cannot read ${resolve(baseDir, file)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` })
        return undefined
      }
      if (secret === '') {
        ctx.addIssue({ code: 'custom', path: [`${name}File`], message: `${resolve(baseDir, file)} is empty` })
        return undefined
      }
    }
    onSecret(secret as string)
    return secret
  }
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
