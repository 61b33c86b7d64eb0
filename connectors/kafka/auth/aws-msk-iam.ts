/**
 * Amazon MSK IAM over SASL OAUTHBEARER. The bearer token is what AWS's aws-msk-iam-sasl-signer-js makes:
 * a SigV4-presigned `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect` (service
 * `kafka-cluster`, 900 s), a `User-Agent` query parameter added after signing, the whole URL base64url-encoded
 * without padding. SigV4 is done here with node:crypto (no AWS SDK). A fresh token is made per authentication.
 *
 * Credentials: explicit keys from the config, else $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY/$AWS_SESSION_TOKEN,
 * else the shared credentials file ($AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile from the config,
 * $AWS_PROFILE or "default"). Instance/container metadata credentials are not supported.
 */
import { createHash, createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { SASLOptions } from 'kafkajs'
import { z } from 'zod'
import { RowcastError } from '../../../core/errors.ts'
import { registerSecret } from '../../../core/secrets.ts'
import type { SaslMechanism } from './mechanism.ts'

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

export const awsMskIam: SaslMechanism<AwsMskIamAuth> = {
  name: 'aws-msk-iam',
  // Not the key, but a bearer token: whoever reads it can authenticate as this identity until it expires.
  exposedWithoutTls: 'aws-msk-iam sends a signed bearer token as clear text, usable by whoever reads it for 15 minutes',
  schema: (fields) =>
    z
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
        const secretAccessKey = fields.secret(value, 'secretAccessKey', ctx, false)
        const sessionToken = fields.secret(value, 'sessionToken', ctx, false)
        if ((value.accessKeyId === undefined) !== (secretAccessKey === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'give both accessKeyId and secretAccessKey, or neither (to use the AWS credential chain)' })
        }
        if (value.profile !== undefined && value.accessKeyId !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['profile'], message: 'profile and explicit accessKeyId exclude each other' })
        }
        return {
          mechanism: 'aws-msk-iam',
          region: fields.need(value, 'region', ctx),
          ...(value.accessKeyId === undefined ? {} : { accessKeyId: value.accessKeyId }),
          ...(secretAccessKey === undefined ? {} : { secretAccessKey }),
          ...(sessionToken === undefined ? {} : { sessionToken }),
          ...(value.profile === undefined ? {} : { profile: value.profile }),
        }
      }),
  sasl: (auth) => awsMskIamSasl(auth),
  describe: (auth) => `aws-msk-iam (${auth.region})`,
}

export interface AwsCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export const MSK_USER_AGENT = 'rowcast-msk-iam/0.1.0'
const EXPIRES_SECONDS = 900

export function awsMskIamSasl(auth: AwsMskIamAuth): Extract<SASLOptions, { mechanism: 'oauthbearer' }> {
  return {
    mechanism: 'oauthbearer',
    oauthBearerProvider: async () => ({
      value: generateMskAuthToken({ region: auth.region, credentials: resolveAwsCredentials(auth), date: new Date() }),
    }),
  }
}

/** The MSK IAM bearer token (base64url, no padding) for these credentials at this instant. */
export function generateMskAuthToken(options: { region: string; credentials: AwsCredentials; date: Date; userAgent?: string }): string {
  const host = `kafka.${options.region}.amazonaws.com`
  const query = presignQuery({
    method: 'GET',
    host,
    path: '/',
    query: { Action: 'kafka-cluster:Connect' },
    region: options.region,
    service: 'kafka-cluster',
    credentials: options.credentials,
    date: options.date,
    expiresSeconds: EXPIRES_SECONDS,
  })
  query['User-Agent'] = options.userAgent ?? MSK_USER_AGENT // not signed, as in aws-msk-iam-sasl-signer-js
  const url = `https://${host}/?${canonicalQuery(query)}`
  return Buffer.from(url, 'utf8').toString('base64url')
}

/**
 * SigV4 query-string presigning (AWS "Authenticating Requests: Using Query Parameters"): returns the request's
 * query plus the X-Amz-* parameters and X-Amz-Signature. Only the `host` header is signed.
 */
export function presignQuery(request: {
  method: string
  host: string
  path: string
  query: Record<string, string>
  region: string
  service: string
  credentials: AwsCredentials
  date: Date
  expiresSeconds: number
  payloadHash?: string
}): Record<string, string> {
  const amzDate = request.date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  const day = amzDate.slice(0, 8)
  const scope = `${day}/${request.region}/${request.service}/aws4_request`
  const query: Record<string, string> = {
    ...request.query,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${request.credentials.accessKeyId}/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': String(request.expiresSeconds),
    ...(request.credentials.sessionToken ? { 'X-Amz-Security-Token': request.credentials.sessionToken } : {}),
    'X-Amz-SignedHeaders': 'host',
  }
  const canonicalRequest = [
    request.method,
    request.path.split('/').map(uriEncode).join('/'),
    canonicalQuery(query),
    `host:${request.host}\n`,
    'host',
    request.payloadHash ?? sha256Hex(''),
  ].join('\n')
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n')
  let key: Buffer = hmac(`AWS4${request.credentials.secretAccessKey}`, day)
  for (const part of [request.region, request.service, 'aws4_request']) key = hmac(key, part)
  query['X-Amz-Signature'] = createHmac('sha256', key).update(stringToSign).digest('hex')
  return query
}

/** Credentials for MSK IAM: explicit, then environment, then the shared credentials file. Registers the secrets. */
export function resolveAwsCredentials(auth: AwsMskIamAuth, env: NodeJS.ProcessEnv = process.env): AwsCredentials {
  const found = explicitCredentials(auth) ?? (auth.profile === undefined ? envCredentials(env) : undefined) ?? profileCredentials(auth, env)
  if (found === undefined) {
    throw new RowcastError(
      'KAFKA_AWS_CREDENTIALS_MISSING',
      'aws-msk-iam: no AWS credentials found (config accessKeyId/secretAccessKey, $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY, or a profile in the shared credentials file)',
    )
  }
  registerSecret(found.secretAccessKey)
  if (found.sessionToken) registerSecret(found.sessionToken)
  return found
}

function explicitCredentials(auth: AwsMskIamAuth): AwsCredentials | undefined {
  if (auth.accessKeyId === undefined || auth.secretAccessKey === undefined) return undefined
  return { accessKeyId: auth.accessKeyId, secretAccessKey: auth.secretAccessKey, ...(auth.sessionToken ? { sessionToken: auth.sessionToken } : {}) }
}

function envCredentials(env: NodeJS.ProcessEnv): AwsCredentials | undefined {
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return undefined
  return { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
}

function profileCredentials(auth: AwsMskIamAuth, env: NodeJS.ProcessEnv): AwsCredentials | undefined {
  const file = env.AWS_SHARED_CREDENTIALS_FILE ?? join(homedir(), '.aws', 'credentials')
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const section = parseIni(text)[auth.profile ?? env.AWS_PROFILE ?? 'default']
  if (!section?.aws_access_key_id || !section.aws_secret_access_key) return undefined
  return {
    accessKeyId: section.aws_access_key_id,
    secretAccessKey: section.aws_secret_access_key,
    ...(section.aws_session_token ? { sessionToken: section.aws_session_token } : {}),
  }
}

function parseIni(text: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {}
  let current: Record<string, string> | undefined
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line)
    if (header) sections[header[1]] = current = sections[header[1]] ?? {}
    else if (current && line.includes('=')) current[line.slice(0, line.indexOf('=')).trim()] = line.slice(line.indexOf('=') + 1).trim()
  }
  return sections
}

/** Sorted `key=value&…` with RFC 3986 encoding, as SigV4 wants it (and as the signer library prints its URL). */
function canonicalQuery(query: Record<string, string>): string {
  return Object.keys(query)
    .map((key) => [uriEncode(key), uriEncode(query[key])] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&')
}

function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest()
}
