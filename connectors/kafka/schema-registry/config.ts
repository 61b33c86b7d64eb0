/**
 * The Schema Registry connection (`destination.schemaRegistry`): a Confluent-compatible REST API
 * (Confluent Schema Registry, Apicurio's `/apis/ccompat/v7`, Karapace, Redpanda…).
 *
 *   schemaRegistry:
 *     url: https://registry.internal:8081
 *     auth: { username: ${SR_USER}, password: ${SR_PASSWORD} }   # optional HTTP basic auth
 *     ca: ./certs/ca.pem                                          # optional: path (relative to the config file) or inline PEM
 *     autoRegister: true                                          # false: only look the schema up (registry managed elsewhere)
 *
 * `schemaRegistryConfigSchema(baseDir, onSecret)` goes inside the root schema; `baseDir` is the config file's
 * folder. The password is passed to `onSecret` (parsing registers nothing itself). TLS is always verified;
 * there is no option to turn that off.
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import { ConfigError } from '../../../core/errors.ts'
import { withSecrets } from '../../../core/secrets.ts'
import { collectingSecrets, secret, urlPassword } from '../../../core/secret-field.ts'

export interface SchemaRegistryConfig {
  /** Base URL of the Confluent-compatible API, without a trailing slash. */
  url: string
  auth?: { username: string; password: string }
  /** PEM text of the CA(s) to trust for an https URL instead of the system trust store. */
  ca?: string
  /** Where `ca` came from (absolute path, or "the inline ca PEM"), for error messages. */
  caSource?: string
  /** Register the schema under `<topic>-value` at start-up (default), or only look it up. */
  autoRegister: boolean
}

export function schemaRegistryConfigSchema(baseDir: string, onSecret: (value: string) => void): z.ZodType<SchemaRegistryConfig, z.ZodTypeDef, unknown> {
  return z
    .object({
      url: secret(z.string().url('must be an http(s) URL, like https://registry.internal:8081'), urlPassword),
      auth: z.object({ username: z.string().min(1), password: secret(z.string().min(1)) }).strict().optional(),
      ca: z.string().min(1).optional(),
      autoRegister: z.boolean().default(true),
    })
    .strict()
    .transform((value, ctx): SchemaRegistryConfig => {
      const url = new URL(value.url)
      if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', path: ['url'], message: 'must start with http:// or https://' })
      if (url.username !== '' || url.password !== '') ctx.addIssue({ code: 'custom', path: ['url'], message: 'put credentials in auth, not in the URL' })
      const out: SchemaRegistryConfig = { url: value.url.replace(/\/+$/, ''), autoRegister: value.autoRegister }
      if (value.auth !== undefined) {
        onSecret(value.auth.password)
        out.auth = value.auth
      }
      if (value.ca !== undefined) {
        if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', path: ['ca'], message: 'a CA only applies to an https:// URL' })
        Object.assign(out, readCa(value.ca, baseDir, ctx))
      }
      return out
    })
}

/**
 * Parses on its own (tests, tools); throws ConfigError with every problem, paths under `pathPrefix`.
 * The secrets it resolved come back through `secretsOf(result)` (or `secretsOf(error)`).
 */
export function parseSchemaRegistryConfig(input: unknown, baseDir: string, pathPrefix = 'destination.schemaRegistry'): SchemaRegistryConfig {
  const secrets: string[] = []
  const collect = (value: string) => void secrets.push(value)
  const result = collectingSecrets(collect, () => schemaRegistryConfigSchema(baseDir, collect).safeParse(input))
  if (result.success) return withSecrets(result.data, secrets)
  throw withSecrets(new ConfigError(result.error.issues.map((issue) => ({ path: [pathPrefix, ...issue.path].join('.'), message: issue.message }))), secrets)
}

function readCa(ca: string, baseDir: string, ctx: z.RefinementCtx): { ca?: string; caSource?: string } {
  let pem = ca
  let source = 'the inline ca PEM'
  if (!ca.includes('-----BEGIN')) {
    source = resolve(baseDir, ca)
    try {
      pem = readFileSync(source, 'utf8')
    } catch (error) {
      ctx.addIssue({ code: 'custom', path: ['ca'], message: `cannot read CA file ${source}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` })
      return {}
    }
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    ctx.addIssue({ code: 'custom', path: ['ca'], message: `${source} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` })
  }
  return { ca: pem, caSource: source }
}
