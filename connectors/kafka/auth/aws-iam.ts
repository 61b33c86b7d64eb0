/**
 * SASL for the Kafka AWS IAM LoginModule (the seed's "AWS IAM"). kafkajs implements it as its built-in
 * mechanism 'aws' (src/protocol/sasl/awsIam): one client message, the four fields joined by NUL,
 * `authorizationIdentity \0 accessKeyId \0 secretAccessKey \0 sessionToken` (empty token when none).
 * We hand kafkajs the options and keep the payload builder here so its bytes are pinned by a test.
 */
import type { SASLOptions } from 'kafkajs'
import { z } from 'zod'
import type { SaslMechanism } from './mechanism.ts'

/** The Kafka AWS IAM LoginModule (kafkajs mechanism 'aws'). */
export interface AwsIamAuth {
  mechanism: 'aws-iam'
  authorizationIdentity: string
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
}

export const awsIam: SaslMechanism<AwsIamAuth> = {
  name: 'aws-iam',
  // The payload is the secret key itself (see awsIamSaslPayload), not a signature.
  exposedWithoutTls: 'aws-iam sends the AWS secret access key as clear text',
  schema: (fields) =>
    z
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
        const sessionToken = fields.secret(value, 'sessionToken', ctx, false)
        return {
          mechanism: 'aws-iam',
          authorizationIdentity: fields.need(value, 'authorizationIdentity', ctx),
          accessKeyId: fields.need(value, 'accessKeyId', ctx),
          secretAccessKey: fields.secret(value, 'secretAccessKey', ctx, true) ?? '',
          ...(sessionToken === undefined ? {} : { sessionToken }),
        }
      }),
  sasl: (auth) => awsIamSasl(auth),
  describe: (auth) => `aws-iam as ${auth.authorizationIdentity}`,
}

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
