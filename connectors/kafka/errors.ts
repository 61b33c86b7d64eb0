/**
 * kafkajs (and Node socket/TLS) errors → RowcastError with a stable code and retry semantics. The cause chain
 * (`cause`, and `errors` of aggregate errors) is searched, since kafkajs wraps the real reason after retrying.
 * Messages are run through redactSecrets. Codes:
 *   KAFKA_AUTH_FAILED        SASL authentication rejected                         not retriable
 *   KAFKA_NOT_AUTHORIZED     authenticated, but ACLs deny topic/cluster access    not retriable
 *   KAFKA_TLS_UNTRUSTED      broker certificate not trusted by the CA             not retriable
 *   KAFKA_TLS_HOSTNAME       broker certificate not valid for the host name       not retriable
 *   KAFKA_UNREACHABLE        refused, timed out, closed, DNS                      retriable
 *   KAFKA_TOPIC_MISSING      UNKNOWN_TOPIC_OR_PARTITION for a topic               retriable (it may be created)
 *   KAFKA_PARTITION_MISSING  the message names a partition the topic lacks        not retriable
 *   KAFKA_MESSAGE_TOO_LARGE  MESSAGE_TOO_LARGE / RECORD_LIST_TOO_LARGE            not retriable
 *   KAFKA_PRODUCER_FENCED    the producer's epoch is stale (e.g. after a broker      retriable (by a new producer:
 *                            restart, or a transaction timed out)                  the attempt restarts)
 *   KAFKA_COORDINATOR_UNAVAILABLE  no group/transaction coordinator yet (a broker  retriable
 *                            starting, a coordinator moving)
 *   KAFKA_ERROR              anything else: retriable only if a kafkajs protocol error says so
 * A RowcastError found in the chain (e.g. thrown by our own SASL token provider) is returned as it is.
 */
import type { ErrorCode } from '../../core/error-codes.ts'
import { RowcastError } from '../../core/errors.ts'
import { redactSecrets } from '../../core/secrets.ts'

export interface KafkaErrorContext {
  topic?: string
  partition?: number
  /** Where the trusted CA came from (KafkaTls.caSource); absent means the system trust store. */
  caSource?: string
  /** The TLS servername override, if any: the name the certificate is checked against. */
  servername?: string
}

export function translateKafkaError(error: unknown, context: KafkaErrorContext = {}): RowcastError {
  const chain = causeChain(error)
  const own = chain.find((e): e is RowcastError => e instanceof RowcastError)
  if (own) return own
  const facts = chain.map(describe)
  const broker = facts.find((f) => f.broker)?.broker
  const at = broker ? ` (broker ${broker})` : ''
  const detail = facts[facts.length - 1]?.message ?? String(error)
  const make = (code: ErrorCode, message: string, retriable: boolean) => new RowcastError(code, redactSecrets(message), { retriable, cause: error })
  const has = (test: (f: Fact) => boolean) => facts.find(test)

  const sasl = has((f) => f.name === 'KafkaJSSASLAuthenticationError' || SASL_TYPES.has(f.type ?? ''))
  if (sasl) return make('KAFKA_AUTH_FAILED', `Kafka authentication failed${at}: ${sasl.message} — check the username/password/mechanism`, false)

  const hostname = has((f) => f.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
  if (hostname) {
    const host = context.servername ?? hostFromMessage(hostname.message) ?? broker ?? 'the broker'
    return make('KAFKA_TLS_HOSTNAME', `the certificate of broker ${broker ?? '?'} is not valid for host ${host}: ${hostname.message}`, false)
  }
  const untrusted = has((f) => UNTRUSTED_CODES.has(f.code ?? ''))
  if (untrusted) {
    const by = context.caSource ? `the CA in ${context.caSource}` : 'the system trust store (no tls.ca given)'
    return make('KAFKA_TLS_UNTRUSTED', `the certificate of broker ${broker ?? '?'} is not trusted by ${by}: ${untrusted.message} [${untrusted.code}]`, false)
  }

  const denied = has((f) => AUTHORIZATION_TYPES.has(f.type ?? ''))
  if (denied) return make('KAFKA_NOT_AUTHORIZED', `Kafka denied access${context.topic ? ` to topic ${context.topic}` : ''}: ${denied.message} [${denied.type}]`, false)

  if (has((f) => f.type === 'UNKNOWN_TOPIC_OR_PARTITION')) {
    if (context.partition !== undefined) {
      return make('KAFKA_PARTITION_MISSING', `partition ${context.partition} of topic ${context.topic ?? '?'} does not exist`, false)
    }
    return make('KAFKA_TOPIC_MISSING', `topic ${context.topic ?? '(unknown)'} does not exist on the Kafka cluster`, true)
  }
  const tooLarge = has((f) => f.type === 'MESSAGE_TOO_LARGE' || f.type === 'RECORD_LIST_TOO_LARGE')
  if (tooLarge) return make('KAFKA_MESSAGE_TOO_LARGE', `Kafka refused the message${context.topic ? ` for topic ${context.topic}` : ''} as too large: ${tooLarge.message}`, false)

  // Transient by cause, though kafkajs marks some of them not retriable: its own retry cannot cure them with
  // the same producer, but a new producer (a new epoch) or a later coordinator lookup does.
  const fenced = has((f) => FENCED_TYPES.has(f.type ?? ''))
  if (fenced) return make('KAFKA_PRODUCER_FENCED', `Kafka fenced the producer${at}: ${fenced.message} [${fenced.type}]; starting again with a new producer`, true)
  const coordinator = has((f) => f.name === 'KafkaJSGroupCoordinatorNotFound' || COORDINATOR_TYPES.has(f.type ?? '') || /failed to find (group|transaction) coordinator/i.test(f.message))
  if (coordinator) return make('KAFKA_COORDINATOR_UNAVAILABLE', `Kafka coordinator not available${at}: ${coordinator.message}`, true)

  const tlsMismatch = has((f) => f.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|before secure TLS connection/i.test(f.message))
  if (tlsMismatch) return make('KAFKA_UNREACHABLE', `TLS handshake with broker ${broker ?? '?'} failed (${tlsMismatch.message}): is this listener plaintext while tls is on, or the other way round?`, true)
  const unreachable = has((f) => UNREACHABLE_NAMES.has(f.name) || UNREACHABLE_CODES.has(f.code ?? ''))
  if (unreachable) return make('KAFKA_UNREACHABLE', `cannot reach Kafka${at}: ${unreachable.message}`, true)

  const protocol = has((f) => f.type !== undefined)
  return make('KAFKA_ERROR', `Kafka error${at}: ${protocol?.message ?? detail}${protocol ? ` [${protocol.type}]` : ''}`, protocol?.retriable === true)
}

interface Fact {
  name: string
  message: string
  code?: string
  type?: string
  broker?: string
  retriable?: boolean
}

const SASL_TYPES = new Set(['SASL_AUTHENTICATION_FAILED', 'ILLEGAL_SASL_STATE', 'UNSUPPORTED_SASL_MECHANISM'])
const AUTHORIZATION_TYPES = new Set(['TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'])
const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'INVALID_CA',
])
const FENCED_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'UNKNOWN_PRODUCER_ID', 'TRANSACTIONAL_ID_NOT_FOUND'])
// kafkajs' names (GROUP_COORDINATOR_NOT_AVAILABLE…) and Kafka's current ones (COORDINATOR_NOT_AVAILABLE…).
const COORDINATOR_TYPES = new Set(['GROUP_COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR_FOR_GROUP', 'NOT_COORDINATOR', 'GROUP_LOAD_IN_PROGRESS', 'COORDINATOR_LOAD_IN_PROGRESS', 'CONCURRENT_TRANSACTIONS', 'TRANSACTION_COORDINATOR_FENCED'])
const UNREACHABLE_NAMES = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSRequestTimeoutError', 'KafkaJSNoBrokerAvailableError', 'KafkaJSBrokerNotFound'])
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'])

function causeChain(error: unknown): unknown[] {
  const out: unknown[] = []
  const queue = [error]
  while (queue.length > 0 && out.length < 20) {
    const next = queue.shift()
    if (next === undefined || next === null || out.includes(next)) continue
    out.push(next)
    if (typeof next === 'object') {
      const { cause, errors } = next as { cause?: unknown; errors?: unknown }
      queue.push(cause)
      if (Array.isArray(errors)) queue.push(...errors)
    }
  }
  return out
}

function describe(error: unknown): Fact {
  if (typeof error !== 'object' || error === null) return { name: typeof error, message: String(error) }
  const e = error as Record<string, unknown>
  const str = (value: unknown) => (typeof value === 'string' ? value : undefined)
  return {
    name: str(e.name) ?? 'Error',
    message: str(e.message) ?? String(error),
    code: str(e.code),
    type: str(e.type),
    broker: str(e.broker) ?? (e.host !== undefined && e.port !== undefined ? `${String(e.host)}:${String(e.port)}` : undefined),
    retriable: typeof e.retriable === 'boolean' ? e.retriable : undefined,
  }
}

/** Node: "Hostname/IP does not match certificate's altnames: Host: x. is not in the cert's altnames: …" */
function hostFromMessage(message: string): string | undefined {
  return /(?:Host|IP): ([^\s]+?)\.? is not/.exec(message)?.[1]
}
