import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { awsIamSasl, awsIamSaslPayload } from '../../../connectors/kafka/auth/aws-iam.ts'
import { toKafkaJsConfig } from '../../../connectors/kafka/client-options.ts'
import type { AwsIamAuth } from '../../../connectors/kafka/config.ts'

// kafkajs's own encoder for the 'aws' mechanism: what actually goes on the wire (int32 length + token).
const require = createRequire(import.meta.url)
const kafkajsAwsRequest = require('kafkajs/src/protocol/sasl/awsIam/request.js') as (sasl: object) => { encode: () => Promise<Buffer> }

const auth: AwsIamAuth = { mechanism: 'aws-iam', authorizationIdentity: 'AIDAEXAMPLEUSERID', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG', sessionToken: 'tok+en=' }

function expectedToken(parts: string[]): Buffer {
  return Buffer.concat(parts.flatMap((part, i) => [...(i > 0 ? [Buffer.from([0])] : []), Buffer.from(part, 'utf8')]))
}

describe('aws-iam SASL', () => {
  test('payload is identity NUL key NUL secret NUL token, byte for byte', () => {
    assert.deepEqual(awsIamSaslPayload(auth), expectedToken(['AIDAEXAMPLEUSERID', 'AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG', 'tok+en=']))
  })

  test('without a session token the last field is empty (payload ends in NUL)', () => {
    const { sessionToken: _unused, ...noToken } = auth
    const payload = awsIamSaslPayload(noToken)
    assert.equal(payload[payload.length - 1], 0)
    assert.deepEqual(payload, expectedToken(['AIDAEXAMPLEUSERID', 'AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG', '']))
  })

  test('kafkajs sends exactly our payload (as SASL BYTES: int32 length prefix) for the options we give it', async () => {
    const sasl = toKafkaJsConfig({ clientId: 'c', brokers: ['b:1'], auth }).sasl
    assert.deepEqual(sasl, awsIamSasl(auth))
    assert.equal(sasl?.mechanism, 'aws')
    const wire = await kafkajsAwsRequest(sasl as object).encode()
    const payload = awsIamSaslPayload(auth)
    assert.equal(wire.readInt32BE(0), payload.length)
    assert.deepEqual(wire.subarray(4), payload)
  })
})
