/**
 * The few Confluent Schema Registry REST calls rowcast makes itself: register a schema under a subject, look one up,
 * read/set a subject's compatibility. (The `@kafkajs/confluent-schema-registry` client's `register()` insists on
 * its own compatibility level — it fails when the subject's differs and sets BACKWARD on new subjects — which is
 * the registry operator's decision, not ours.) Registry errors become RowcastErrors:
 *
 *   SCHEMA_INCOMPATIBLE     409: the registry's compatibility check refused the schema    not retriable
 *   SCHEMA_INVALID          422: the registry could not parse the schema                  not retriable
 *   SCHEMA_NOT_REGISTERED   404 on look-up (autoRegister: false)                           not retriable
 *   REGISTRY_UNAUTHORIZED   401/403                                                        not retriable
 *   REGISTRY_TLS_UNTRUSTED  certificate not trusted / not valid for the host               not retriable
 *   REGISTRY_UNAVAILABLE    refused, timed out, reset, 5xx, 429                            retriable
 *   REGISTRY_ERROR          any other answer                                               not retriable
 */
import { request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { RowcastError } from '../../../core/errors.ts'
import { redactSecrets } from '../../../core/secrets.ts'
import type { SchemaRegistryConfig } from './config.ts'

/** Confluent's names: AVRO is the default and is sent as no schemaType at all. */
export type RegistrySchemaType = 'AVRO' | 'JSON'

export interface RegistryClient {
  /** POST /subjects/{subject}/versions: the id (an existing one when this exact schema is already registered). */
  register(subject: string, schemaType: RegistrySchemaType, schema: string): Promise<number>
  /** POST /subjects/{subject}: the id of this exact schema under the subject. */
  lookup(subject: string, schemaType: RegistrySchemaType, schema: string): Promise<number>
  /** PUT /config/{subject} (tests and tools; rowcast itself never changes compatibility). */
  setCompatibility(subject: string, level: string): Promise<void>
  /** GET /subjects: the registry answers, accepts our credentials and (https) is trusted — for `rowcast check`. */
  ping(): Promise<void>
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json'

export function createRegistryClient(config: SchemaRegistryConfig, timeoutMs = 10_000): RegistryClient {
  const base = new URL(`${config.url}/`)
  const https = base.protocol === 'https:'
  const agent = https && config.ca !== undefined ? new HttpsAgent({ ca: config.ca, keepAlive: false }) : undefined
  const authorization = config.auth === undefined ? undefined : `Basic ${Buffer.from(`${config.auth.username}:${config.auth.password}`).toString('base64')}`

  const call = (method: string, path: string, body: unknown, what: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const url = new URL(path, base)
      const payload = body === undefined ? '' : JSON.stringify(body)
      const headers: Record<string, string | number> = { 'content-type': CONTENT_TYPE, accept: CONTENT_TYPE, 'content-length': Buffer.byteLength(payload) }
      if (authorization !== undefined) headers.authorization = authorization
      const send = https ? httpsRequest : httpRequest
      const req = send(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('error', (error) => reject(networkError(error, config, what)))
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let data: Record<string, unknown> = {}
          try {
            data = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
          } catch {
            data = { message: text.slice(0, 500) }
          }
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) resolve(data)
          else reject(httpError(status, data, config, what))
        })
      })
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })))
      req.on('error', (error) => reject(networkError(error, config, what)))
      req.end(payload)
    })

  const schemaBody = (schemaType: RegistrySchemaType, schema: string) => (schemaType === 'AVRO' ? { schema } : { schemaType, schema })
  const subjectPath = (subject: string) => encodeURIComponent(subject)

  return {
    async register(subject, schemaType, schema) {
      const data = await call('POST', `subjects/${subjectPath(subject)}/versions`, schemaBody(schemaType, schema), `registering the schema under ${subject}`)
      return schemaId(data, config)
    },
    async lookup(subject, schemaType, schema) {
      const data = await call('POST', `subjects/${subjectPath(subject)}`, schemaBody(schemaType, schema), `looking up the schema under ${subject}`)
      return schemaId(data, config)
    },
    async setCompatibility(subject, level) {
      await call('PUT', `config/${subjectPath(subject)}`, { compatibility: level }, `setting the compatibility of ${subject}`)
    },
    async ping() {
      await call('GET', 'subjects', undefined, 'listing subjects')
    },
  }
}

function schemaId(data: Record<string, unknown>, config: SchemaRegistryConfig): number {
  const id = data.id
  if (typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0x7fffffff) return id
  throw new RowcastError('REGISTRY_ERROR', `schema registry ${config.url} answered without a schema id: ${redactSecrets(JSON.stringify(data).slice(0, 300))}`)
}

function httpError(status: number, data: Record<string, unknown>, config: SchemaRegistryConfig, what: string): RowcastError {
  const reason = redactSecrets(typeof data.message === 'string' ? data.message : JSON.stringify(data))
  const errorCode = typeof data.error_code === 'number' ? ` (error ${data.error_code})` : ''
  const message = `schema registry ${config.url}, ${what}: HTTP ${status}${errorCode}: ${reason}`
  if (status === 409) return new RowcastError('SCHEMA_INCOMPATIBLE', message)
  if (status === 422) return new RowcastError('SCHEMA_INVALID', message)
  if (status === 404 && what.startsWith('looking up')) return new RowcastError('SCHEMA_NOT_REGISTERED', `${message} — register it, or set autoRegister: true`)
  if (status === 401 || status === 403) return new RowcastError('REGISTRY_UNAUTHORIZED', `${message} — check destination.schemaRegistry.auth`)
  if (status >= 500 || status === 429 || status === 408) return new RowcastError('REGISTRY_UNAVAILABLE', message)
  return new RowcastError('REGISTRY_ERROR', message)
}

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_NOT_YET_VALID',
])

function networkError(error: Error, config: SchemaRegistryConfig, what: string): RowcastError {
  const code = (error as NodeJS.ErrnoException).code ?? ''
  const message = redactSecrets(`schema registry ${config.url}, ${what}: ${error.message}`)
  if (TLS_CODES.has(code)) {
    const hint = config.caSource === undefined ? 'set destination.schemaRegistry.ca to the CA that signed it' : `trusted CA: ${config.caSource}`
    return new RowcastError('REGISTRY_TLS_UNTRUSTED', `${message} (${code}) — ${hint}`, { cause: error })
  }
  return new RowcastError('REGISTRY_UNAVAILABLE', code === '' ? message : `${message} (${code})`, { cause: error })
}
