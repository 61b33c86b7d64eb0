import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { awsMskIamSasl, generateMskAuthToken, MSK_USER_AGENT, presignQuery } from '../../../connectors/kafka/auth/aws-msk-iam.ts'

const KEYS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }
const DATE = new Date(Date.UTC(2024, 0, 15, 12, 34, 56))

describe('SigV4 presigning', () => {
  // AWS S3 docs, "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", the GET /test.txt example.
  test('matches the AWS documentation example', () => {
    const query = presignQuery({
      method: 'GET',
      host: 'examplebucket.s3.amazonaws.com',
      path: '/test.txt',
      query: {},
      region: 'us-east-1',
      service: 's3',
      credentials: KEYS,
      date: new Date(Date.UTC(2013, 4, 24)),
      expiresSeconds: 86400,
      payloadHash: 'UNSIGNED-PAYLOAD',
    })
    assert.equal(query['X-Amz-Credential'], 'AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request')
    assert.equal(query['X-Amz-Signature'], 'aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404')
  })
})

describe('MSK IAM token', () => {
  // Produced by aws-msk-iam-sasl-signer-js 1.0.3 generateAuthTokenFromCredentialsProvider({ region: 'eu-west-1' })
  // with these credentials and the clock fixed at 2024-01-15T12:34:56Z.
  const LIBRARY_TOKEN_WITH_SESSION =
    'aHR0cHM6Ly9rYWZrYS5ldS13ZXN0LTEuYW1hem9uYXdzLmNvbS8_QWN0aW9uPWthZmthLWNsdXN0ZXIlM0FDb25uZWN0JlVzZXItQWdlbnQ9YXdzLW1zay1pYW0tc2FzbC1zaWduZXItanMlMkYxLjAuMyZYLUFtei1BbGdvcml0aG09QVdTNC1ITUFDLVNIQTI1NiZYLUFtei1DcmVkZW50aWFsPUFLSUFJT1NGT0ROTjdFWEFNUExFJTJGMjAyNDAxMTUlMkZldS13ZXN0LTElMkZrYWZrYS1jbHVzdGVyJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAyNDAxMTVUMTIzNDU2WiZYLUFtei1FeHBpcmVzPTkwMCZYLUFtei1TZWN1cml0eS1Ub2tlbj1Gd29HWlhJdllYZHpFWEFNUExFJTJGdG9rZW4lMkJ3aXRoJTNEY2hhcnMmWC1BbXotU2lnbmF0dXJlPWUzNjZlNDAzNDM1ZGQ2MWI4MTE0M2U4MTZkYTlmOGFiMjhlZTk2ZWM5YjhiZWQ1ZDJiMDBkOWJhMTk4YjI2OGYmWC1BbXotU2lnbmVkSGVhZGVycz1ob3N0'
  const LIBRARY_SIGNATURE_WITHOUT_SESSION = 'e105221066d022b4e514899bebcac6aac33e6cf146354232e3584606a5c97114'
  const LIBRARY_UA = 'aws-msk-iam-sasl-signer-js/1.0.3'

  test('is byte-identical to the AWS signer library output', () => {
    const token = generateMskAuthToken({ region: 'eu-west-1', date: DATE, userAgent: LIBRARY_UA, credentials: { ...KEYS, sessionToken: 'FwoGZXIvYXdzEXAMPLE/token+with=chars' } })
    assert.equal(token, LIBRARY_TOKEN_WITH_SESSION)
    assert.doesNotMatch(token, /[=+/]/, 'base64url without padding')
  })

  test('without a session token', () => {
    const url = new URL(Buffer.from(generateMskAuthToken({ region: 'eu-west-1', date: DATE, userAgent: LIBRARY_UA, credentials: KEYS }), 'base64url').toString())
    assert.equal(url.searchParams.get('X-Amz-Signature'), LIBRARY_SIGNATURE_WITHOUT_SESSION)
    assert.equal(url.searchParams.has('X-Amz-Security-Token'), false)
  })

  test('decodes to the presigned kafka-cluster:Connect URL with our User-Agent', () => {
    const url = new URL(Buffer.from(generateMskAuthToken({ region: 'us-east-1', date: DATE, credentials: KEYS }), 'base64url').toString())
    assert.equal(url.origin, 'https://kafka.us-east-1.amazonaws.com')
    assert.equal(url.searchParams.get('Action'), 'kafka-cluster:Connect')
    assert.equal(url.searchParams.get('User-Agent'), MSK_USER_AGENT)
    assert.equal(url.searchParams.get('X-Amz-Expires'), '900')
    assert.equal(url.searchParams.get('X-Amz-SignedHeaders'), 'host')
    assert.equal(url.searchParams.get('X-Amz-Credential'), 'AKIAIOSFODNN7EXAMPLE/20240115/us-east-1/kafka-cluster/aws4_request')
  })

  test('the kafkajs provider returns a fresh token for explicit keys', async () => {
    const sasl = awsMskIamSasl({ mechanism: 'aws-msk-iam', region: 'us-west-2', ...KEYS })
    assert.equal(sasl.mechanism, 'oauthbearer')
    const { value } = await sasl.oauthBearerProvider()
    const url = new URL(Buffer.from(value, 'base64url').toString())
    assert.equal(url.host, 'kafka.us-west-2.amazonaws.com')
    const stamp = url.searchParams.get('X-Amz-Date') ?? ''
    assert.ok(Math.abs(Date.parse(stamp.replace(/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/, '$1-$2-$3T$4:$5:$6Z')) - Date.now()) < 60_000)
  })
})

// Where the credentials come from (explicit keys, the default chain, refresh): test/connectors/kafka/auth/aws-credential-chain.test.ts
