/**
 * The SASL mechanisms rowcast speaks, in the order error messages list them. Adding one: a file in this
 * folder exporting a `SaslMechanism`, and one entry here.
 */
import type { SASLOptions } from 'kafkajs'
import { awsIam } from './aws-iam.ts'
import { awsMskIam } from './aws-msk-iam.ts'
import type { SaslMechanism } from './mechanism.ts'
import { plain } from './plain.ts'
import { scramSha256, scramSha512 } from './scram.ts'

export const SASL_MECHANISMS = [plain, scramSha256, scramSha512, awsIam, awsMskIam] as const

type AuthOf<M> = M extends SaslMechanism<infer Auth> ? Auth : never
/** The validated `destination.kafka.auth`: one of the mechanisms' configs. */
export type KafkaAuth = AuthOf<(typeof SASL_MECHANISMS)[number]>

export const SASL_MECHANISM_NAMES = SASL_MECHANISMS.map((m) => m.name) as [KafkaAuth['mechanism'], ...KafkaAuth['mechanism'][]]

const BY_NAME = new Map<string, SaslMechanism<KafkaAuth>>(SASL_MECHANISMS.map((m) => [m.name, m as SaslMechanism<KafkaAuth>]))

/** The mechanism of this name (one of SASL_MECHANISM_NAMES: the config schema only lets those through). */
export function saslMechanism(name: KafkaAuth['mechanism']): SaslMechanism<KafkaAuth> {
  const found = BY_NAME.get(name)
  if (found === undefined) throw new Error(`unknown SASL mechanism ${name}`) // a programming error: validated config never gets here
  return found
}

export function saslOptions(auth: KafkaAuth): SASLOptions {
  return saslMechanism(auth.mechanism).sasl(auth)
}

export function describeAuth(auth: KafkaAuth): string {
  return saslMechanism(auth.mechanism).describe(auth)
}
