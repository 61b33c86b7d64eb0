/** SASL/PLAIN: the password itself goes to the broker, so without TLS anyone on the path can read it. */
import { passwordMechanism } from './password.ts'

export const plain = passwordMechanism('plain', 'PLAIN sends the password as clear text')
