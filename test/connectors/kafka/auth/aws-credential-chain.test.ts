import { after, afterEach, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { awsMskIamSasl, generateMskAuthToken, type AwsMskIamAuth } from '../../../../connectors/kafka/auth/aws-msk-iam.ts'
import { redactSecrets } from '../../../../core/secrets.ts'
import { RowcastError } from '../../../../core/errors.ts'

/**
 * aws-msk-iam without keys in the config takes the AWS SDK's default credential chain, as AWS users have their
 * credentials: here from fakes of the ECS/EKS Pod Identity container endpoint and of EC2's IMDSv2 on loopback,
 * serving short-lived credentials. Each kafkajs (re-)authentication calls oauthBearerProvider: the token it
 * returns is checked to be signed with the served credentials, and credentials near expiry are fetched again.
 */

const AUTH: AwsMskIamAuth = { mechanism: 'aws-msk-iam', region: 'eu-west-1' }
const dir = mkdtempSync(join(tmpdir(), 'rowcast-aws-chain-'))

interface Served {
  accessKeyId: string
  secretAccessKey: string
  sessionToken: string
  expiresInMs: number
}

/** A tiny metadata server: each credentials request takes the next of `served` (the last one repeats). */
class FakeMetadata {
  readonly requests: { method: string; url: string; authorization?: string; imdsToken?: string }[] = []
  served: Served[] = []
  failing = false
  #server: Server = createServer((req, res) => this.#answer(req, res))
  port = 0

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    this.port = (this.#server.address() as AddressInfo).port
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()))
  }

  credentialRequests(): number {
    return this.requests.filter((r) => r.method === 'GET' && /\/(creds|security-credentials(-extended)?\/rowcast-role)$/.test(r.url)).length
  }

  #next(): Record<string, string> {
    const index = Math.min(this.credentialRequests() - 1, this.served.length - 1)
    const c = this.served[index]
    return { AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, Token: c.sessionToken, Expiration: new Date(Date.now() + c.expiresInMs).toISOString() }
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers['x-aws-ec2-metadata-token'] ? { imdsToken: String(req.headers['x-aws-ec2-metadata-token']) } : {}),
    })
    const send = (status: number, body: string, type = 'application/json'): void => void res.writeHead(status, { 'content-type': type }).end(body)
    if (this.failing) return send(500, '{"message":"metadata service unavailable"}')
    const url = req.url ?? ''
    if (req.method === 'PUT' && url === '/latest/api/token') return send(200, 'imds-session-token', 'text/plain')
    if (req.method === 'GET' && url === '/creds') return send(200, JSON.stringify(this.#next()))
    if (req.method === 'GET' && /^\/latest\/meta-data\/iam\/security-credentials(-extended)?\/$/.test(url)) return send(200, 'rowcast-role', 'text/plain')
    if (req.method === 'GET' && /^\/latest\/meta-data\/iam\/security-credentials(-extended)?\/rowcast-role$/.test(url)) {
      return send(200, JSON.stringify({ Code: 'Success', Type: 'AWS-HMAC', LastUpdated: new Date().toISOString(), ...this.#next() }))
    }
    send(404, '{"message":"not found"}')
  }
}

/** The environment of one test: AWS_* variables replaced, restored afterwards. */
const AWS_VARS = /^AWS_/
let savedEnv: Record<string, string | undefined> = {}
function useEnv(vars: Record<string, string>): void {
  savedEnv = Object.fromEntries(Object.keys(process.env).filter((k) => AWS_VARS.test(k)).map((k) => [k, process.env[k]]))
  for (const key of Object.keys(savedEnv)) delete process.env[key]
  // No real metadata service and no real files are ever asked: every source the chain tries is ours.
  Object.assign(process.env, { AWS_CONFIG_FILE: join(dir, 'absent-config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'absent-credentials'), AWS_EC2_METADATA_DISABLED: 'true' }, vars)
}
afterEach(() => restoreEnv())
/** Puts back the AWS_* variables useEnv replaced (also between two useEnv in one test). */
function restoreEnv(): void {
  for (const key of Object.keys(process.env).filter((k) => AWS_VARS.test(k))) delete process.env[key]
  Object.assign(process.env, Object.fromEntries(Object.entries(savedEnv).filter(([, v]) => v !== undefined)))
}

/** What a token says: its access key, session token and date, and whether its signature is the one of `secret`. */
function readToken(token: string, region: string, secretAccessKey: string) {
  const url = new URL(Buffer.from(token, 'base64url').toString())
  const accessKeyId = (url.searchParams.get('X-Amz-Credential') ?? '').split('/')[0]
  const sessionToken = url.searchParams.get('X-Amz-Security-Token') ?? undefined
  const stamp = url.searchParams.get('X-Amz-Date') ?? ''
  const date = new Date(stamp.replace(/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/, '$1-$2-$3T$4:$5:$6Z'))
  const expected = generateMskAuthToken({ region, date, credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) } })
  return { accessKeyId, sessionToken, signedWithSecret: expected === token, text: url.toString() }
}

const fake = new FakeMetadata()
before(() => fake.start())
after(() => fake.stop())
function reset(served: Served[]): void {
  fake.requests.length = 0
  fake.served = served
  fake.failing = false
}

const HOUR = 3_600_000
const served = (n: number, expiresInMs: number): Served => ({
  accessKeyId: `ASIACHAIN${n}EXAMPLE`,
  secretAccessKey: `chain-secret-${n}-wJalrXUtnFEMIK7MDENG`,
  sessionToken: `chain-session-${n}-FwoGZXIvYXdzEXAMPLE`,
  expiresInMs,
})

describe('aws-msk-iam through the default credential chain', () => {
  test('EKS Pod Identity / ECS task role: the container endpoint is asked, with its authorization token, and signs the token', async () => {
    reset([served(1, HOUR)])
    const tokenFile = join(dir, 'pod-identity-token')
    writeFileSync(tokenFile, 'pod-identity-jwt-EXAMPLE') // as EKS writes it: no newline (HTTP refuses one in a header)
    useEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${fake.port}/creds`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile })
    const { value } = await awsMskIamSasl(AUTH).oauthBearerProvider()
    assert.equal(fake.credentialRequests(), 1)
    assert.equal(fake.requests[0].authorization, 'pod-identity-jwt-EXAMPLE')
    const token = readToken(value, 'eu-west-1', served(1, HOUR).secretAccessKey)
    assert.deepEqual([token.accessKeyId, token.sessionToken, token.signedWithSecret], ['ASIACHAIN1EXAMPLE', 'chain-session-1-FwoGZXIvYXdzEXAMPLE', true])
    assert.doesNotMatch(token.text, /chain-secret-1/, 'the secret key signs the token, it is not in it')
    assert.equal(redactSecrets(`x ${served(1, HOUR).secretAccessKey} ${served(1, HOUR).sessionToken}`), 'x [redacted] [redacted]')
  })

  test('EC2 instance profile: IMDSv2 (session token first), credentials reused while far from expiry', async () => {
    reset([served(2, HOUR)])
    useEnv({ AWS_EC2_METADATA_DISABLED: 'false', AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${fake.port}` })
    const sasl = awsMskIamSasl(AUTH)
    const first = await sasl.oauthBearerProvider()
    const second = await sasl.oauthBearerProvider() // a re-authentication: the same credentials, a fresh token
    assert.equal(fake.credentialRequests(), 1, 'credentials valid for an hour are not fetched again')
    assert.ok(fake.requests.some((r) => r.method === 'PUT' && r.url === '/latest/api/token'), 'IMDSv2 asks for a session token')
    assert.ok(fake.requests.filter((r) => r.method === 'GET').every((r) => r.imdsToken === 'imds-session-token'))
    for (const { value } of [first, second]) assert.equal(readToken(value, 'eu-west-1', served(2, HOUR).secretAccessKey).signedWithSecret, true)
  })

  test('credentials near their expiry are fetched again before the next authentication uses them', async () => {
    // The first set expires in 4 minutes (inside the 5-minute refresh margin), the second in an hour.
    reset([served(3, 4 * 60_000), served(4, HOUR)])
    useEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${fake.port}/creds` })
    const sasl = awsMskIamSasl(AUTH)
    const first = readToken((await sasl.oauthBearerProvider()).value, 'eu-west-1', served(3, 0).secretAccessKey)
    const second = readToken((await sasl.oauthBearerProvider()).value, 'eu-west-1', served(4, 0).secretAccessKey)
    const third = readToken((await sasl.oauthBearerProvider()).value, 'eu-west-1', served(4, 0).secretAccessKey)
    assert.deepEqual([first.accessKeyId, second.accessKeyId, third.accessKeyId], ['ASIACHAIN3EXAMPLE', 'ASIACHAIN4EXAMPLE', 'ASIACHAIN4EXAMPLE'])
    assert.ok(first.signedWithSecret && second.signedWithSecret && third.signedWithSecret)
    assert.equal(fake.credentialRequests(), 2)
  })

  test('a failed refresh keeps credentials that have not expired yet; a failure without any names no secret', async () => {
    reset([served(5, 4 * 60_000)])
    useEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${fake.port}/creds` })
    const sasl = awsMskIamSasl(AUTH)
    await sasl.oauthBearerProvider()
    fake.failing = true
    const kept = readToken((await sasl.oauthBearerProvider()).value, 'eu-west-1', served(5, 0).secretAccessKey)
    assert.equal(kept.accessKeyId, 'ASIACHAIN5EXAMPLE')
    assert.ok(fake.credentialRequests() >= 2, 'the refresh was tried')

    const fresh = awsMskIamSasl(AUTH)
    await assert.rejects(fresh.oauthBearerProvider(), (error: unknown) => {
      assert.ok(error instanceof RowcastError, String(error))
      assert.equal(error.code, 'KAFKA_AWS_CREDENTIALS_MISSING')
      assert.match(error.message, /default credential chain/)
      assert.doesNotMatch(`${error.message} ${String(error.stack)}`, /chain-secret|chain-session/)
      return true
    })
  })

  test('explicit keys are used as given: no metadata endpoint is asked', async () => {
    reset([served(6, HOUR)])
    useEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${fake.port}/creds` })
    const keys = { accessKeyId: 'AKIAEXPLICITEXAMPLE', secretAccessKey: 'explicit-secret-wJalrXUtnFEMI' }
    const token = readToken((await awsMskIamSasl({ ...AUTH, ...keys }).oauthBearerProvider()).value, 'eu-west-1', keys.secretAccessKey)
    assert.deepEqual([token.accessKeyId, token.signedWithSecret], ['AKIAEXPLICITEXAMPLE', true])
    assert.equal(fake.requests.length, 0)
  })

  test('environment variables, then the shared credentials file with the profile of the config or $AWS_PROFILE', async () => {
    const file = join(dir, 'credentials')
    writeFileSync(file, '[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = default-secret-1234\n\n[prod]\naws_access_key_id=AKIAPROD\naws_secret_access_key=prod-secret-5678\naws_session_token=prod-token-9999\n')
    const keyOf = async (auth: AwsMskIamAuth) => new URL(Buffer.from((await awsMskIamSasl(auth).oauthBearerProvider()).value, 'base64url').toString()).searchParams
    useEnv({ AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'env-secret-abcd', AWS_SESSION_TOKEN: 'env-token-abcd', AWS_SHARED_CREDENTIALS_FILE: file })
    assert.match((await keyOf(AUTH)).get('X-Amz-Credential') ?? '', /^AKIAENV\//)
    assert.equal(redactSecrets('env-secret-abcd env-token-abcd'), '[redacted] [redacted]')
    const prod = await keyOf({ ...AUTH, profile: 'prod' })
    assert.deepEqual([prod.get('X-Amz-Credential')?.split('/')[0], prod.get('X-Amz-Security-Token')], ['AKIAPROD', 'prod-token-9999'])
    restoreEnv()
    useEnv({ AWS_SHARED_CREDENTIALS_FILE: file })
    assert.match((await keyOf(AUTH)).get('X-Amz-Credential') ?? '', /^AKIADEFAULT\//)
    restoreEnv()
    useEnv({ AWS_SHARED_CREDENTIALS_FILE: file, AWS_PROFILE: 'prod' })
    assert.match((await keyOf(AUTH)).get('X-Amz-Credential') ?? '', /^AKIAPROD\//)
  })
})
