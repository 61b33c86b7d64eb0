import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { describeAuth, SASL_MECHANISM_NAMES, SASL_MECHANISMS, saslMechanism, saslOptions } from '../../../../connectors/kafka/auth/mechanisms.ts'
import { authFields } from '../../../../connectors/kafka/auth/fields.ts'

describe('the SASL mechanism registry', () => {
  test('lists every mechanism once, in the order errors name them, each found by its name', () => {
    assert.deepEqual(SASL_MECHANISM_NAMES, ['plain', 'scram-sha-256', 'scram-sha-512', 'aws-iam', 'aws-msk-iam'])
    for (const mechanism of SASL_MECHANISMS) assert.equal(saslMechanism(mechanism.name), mechanism)
  })

  test('only the mechanisms whose credentials are readable on the wire need TLS', () => {
    const exposing = SASL_MECHANISMS.filter((m) => m.exposedWithoutTls !== undefined).map((m) => m.name)
    assert.deepEqual(exposing, ['plain', 'aws-iam', 'aws-msk-iam'])
  })

  test("each mechanism's schema reports its secrets, and its options and check line come from the same file", () => {
    const secrets: string[] = []
    const fields = authFields(process.cwd(), (value) => secrets.push(value))
    const plain = saslMechanism('plain').schema(fields).parse({ mechanism: 'plain', username: 'u', password: 'pw-1' })
    const iam = saslMechanism('aws-iam').schema(fields).parse({ mechanism: 'aws-iam', authorizationIdentity: 'AIDA', accessKeyId: 'AKIA', secretAccessKey: 'sk-2', sessionToken: 'st-3' })
    const msk = saslMechanism('aws-msk-iam').schema(fields).parse({ mechanism: 'aws-msk-iam', region: 'eu-west-1' })
    assert.deepEqual(secrets, ['pw-1', 'st-3', 'sk-2'])
    assert.deepEqual(saslOptions(plain), { mechanism: 'plain', username: 'u', password: 'pw-1' })
    assert.equal(saslOptions(iam).mechanism, 'aws')
    assert.equal(saslOptions(msk).mechanism, 'oauthbearer')
    assert.deepEqual([describeAuth(plain), describeAuth(iam), describeAuth(msk)], ['plain as user u', 'aws-iam as AIDA', 'aws-msk-iam (eu-west-1)'])
  })
})
