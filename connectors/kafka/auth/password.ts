/** The username/password mechanisms (PLAIN, SCRAM): one schema, kafkajs takes the fields as they are. */
import { z } from 'zod'
import type { SaslMechanism } from './mechanism.ts'

export type SaslPasswordMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512'

export interface PasswordAuth {
  mechanism: SaslPasswordMechanism
  username: string
  password: string
}

export function passwordMechanism(name: SaslPasswordMechanism, exposedWithoutTls?: string): SaslMechanism<PasswordAuth> {
  return {
    name,
    ...(exposedWithoutTls === undefined ? {} : { exposedWithoutTls }),
    schema: (fields) =>
      z
        .object({
          mechanism: z.literal(name),
          username: z.string().min(1).optional(),
          password: z.string().min(1).optional(),
          passwordFile: z.string().min(1).optional(),
        })
        .strict()
        .transform((value, ctx): PasswordAuth => ({
          mechanism: name,
          username: fields.need(value, 'username', ctx),
          password: fields.secret(value, 'password', ctx, true) ?? '',
        })),
    sasl: (auth) => ({ mechanism: auth.mechanism, username: auth.username, password: auth.password }),
    describe: (auth) => `${auth.mechanism} as user ${auth.username}`,
  }
}
