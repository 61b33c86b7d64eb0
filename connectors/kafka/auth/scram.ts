/**
 * SASL/SCRAM (RFC 5802): a challenge-response, the password never travels; what does (salted proofs bound to
 * nonces) cannot be replayed, so SCRAM is allowed without TLS (an eavesdropper can still attempt an offline
 * guess of a weak password from one exchange; use TLS where you can).
 */
import { passwordMechanism } from './password.ts'

export const scramSha256 = passwordMechanism('scram-sha-256')
export const scramSha512 = passwordMechanism('scram-sha-512')
