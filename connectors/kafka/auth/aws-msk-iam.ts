/**
 * Amazon MSK IAM over SASL OAUTHBEARER. The bearer token is what AWS's aws-msk-iam-sasl-signer-js makes:
 * a SigV4-presigned `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster%3AConnect` (service
 * `kafka-cluster`, 900 s), a `User-Agent` query parameter added after signing, the whole URL base64url-encoded
 * without padding. SigV4 is done here with node:crypto. A fresh token is made per authentication.
 *
 * Credentials: explicit keys from the config, else the AWS SDK's default credential chain, refreshed ahead of
 * expiry (aws-credentials.ts).
 */
import { createHash, createHmac } from 'node:crypto'
import type { SASLOptions } from 'kafkajs'
import { z } from 'zod'
import { awsCredentialSource, type AwsCredentials } from './aws-credentials.ts'
import type { SaslMechanism } from './mechanism.ts'

/** Amazon MSK IAM (SASL OAUTHBEARER with a SigV4-signed token). Without explicit keys: the AWS default credential chain. */
export interface AwsMskIamAuth {
  mechanism: 'aws-msk-iam'
  region: string
  accessKeyId?: string
  secretAccessKey?: string
  sessionToken?: string
  /** The profile the default credential chain reads when no keys are given (default: $AWS_PROFILE or "default"). */
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

export const MSK_USER_AGENT = 'rowcast-msk-iam/0.1.0'
const EXPIRES_SECONDS = 900

/** kafkajs calls oauthBearerProvider at every (re-)authentication: a new token, from credentials valid for a while yet. */
export function awsMskIamSasl(auth: AwsMskIamAuth): Extract<SASLOptions, { mechanism: 'oauthbearer' }> {
  const credentials = awsCredentialSource(auth)
  return {
    mechanism: 'oauthbearer',
    oauthBearerProvider: async () => ({
      value: generateMskAuthToken({ region: auth.region, credentials: await credentials(), date: new Date() }),
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
