/**
 * What one SASL mechanism is to rowcast: its config (a strict zod schema with its secret fields), the kafkajs
 * SASL options built from it, and the line `rowcast check` prints. Each mechanism is one file in this folder,
 * listed once in `mechanisms.ts`; nothing outside this folder knows a mechanism by name.
 */
import type { SASLOptions } from 'kafkajs'
import type { z } from 'zod'
import type { AuthFields } from './fields.ts'

export interface SaslMechanism<Auth extends { mechanism: string }> {
  /** The config's `auth.mechanism`. */
  readonly name: Auth['mechanism']
  /** The strict schema of `destination.kafka.auth` for this mechanism; secrets are read through `fields.secret`. */
  schema(fields: AuthFields): z.ZodType<Auth, z.ZodTypeDef, unknown>
  /**
   * What a listener without TLS lets anyone on the network read and reuse, as the start of a sentence
   * ("PLAIN sends the password as clear text"); absent when nothing reusable travels (SCRAM's challenge-response).
   */
  readonly exposedWithoutTls?: string
  sasl(auth: Auth): SASLOptions
  /** For `rowcast check`: who was accepted ("plain as user u"). */
  describe(auth: Auth): string
}
