/**
 * SASL for the Kafka AWS IAM LoginModule (the seed's "AWS IAM"). kafkajs implements it as its built-in
 * mechanism 'aws' (src/protocol/sasl/awsIam): one client message, the four fields joined by NUL,
 * `authorizationIdentity \0 accessKeyId \0 secretAccessKey \0 sessionToken` (empty token when none).
 * We hand kafkajs the options and keep the payload builder here so its bytes are pinned by a test.
 */
import type { SASLOptions } from 'kafkajs'
import type { AwsIamAuth } from '../config.ts'

export function awsIamSasl(auth: AwsIamAuth): Extract<SASLOptions, { mechanism: 'aws' }> {
  return {
    mechanism: 'aws',
    authorizationIdentity: auth.authorizationIdentity,
    accessKeyId: auth.accessKeyId,
    secretAccessKey: auth.secretAccessKey,
    sessionToken: auth.sessionToken ?? '',
  }
}

/** The SASL token the LoginModule expects (what kafkajs sends as SaslAuthenticate auth_bytes). */
export function awsIamSaslPayload(auth: AwsIamAuth): Buffer {
  return Buffer.from([auth.authorizationIdentity, auth.accessKeyId, auth.secretAccessKey, auth.sessionToken ?? ''].join('\u0000'), 'utf8')
}
