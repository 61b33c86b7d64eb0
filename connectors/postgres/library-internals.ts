import { RowcastError } from '../../core/errors.ts'

/**
 * Where rowcast reaches past public API, checked once at start-up so a dependency upgrade that moves them fails
 * loudly instead of silently: pg-logical-replication keeps its pg connection private (`_connection`), and rowcast
 * needs its socket to pause reading (backpressure: otherwise memory grows unbounded during an outage) and
 * `sendCopyFromChunk` to send standby status (otherwise the slot is never confirmed); the decoder calls Node's
 * `Buffer#utf8Slice` (toString without its per-call argument checks).
 */

/** Throws INTERNAL_API_MISSING when Node's Buffer lacks `utf8Slice`. */
export function assertBufferInternals(prototype: object = Buffer.prototype): void {
  if (typeof (prototype as { utf8Slice?: unknown }).utf8Slice !== 'function') {
    throw missing(`Node.js ${process.version} has no Buffer#utf8Slice, which the pgoutput decoder uses`)
  }
}

/** Throws INTERNAL_API_MISSING when a started LogicalReplicationService lacks the connection parts rowcast uses. */
export function assertReplicationInternals(service: unknown): void {
  const connection = (service as { _connection?: { stream?: { pause?: unknown; resume?: unknown }; sendCopyFromChunk?: unknown } } | null)?._connection
  const lacking = [
    connection === undefined || connection === null ? '_connection' : null,
    typeof connection?.stream?.pause !== 'function' || typeof connection.stream.resume !== 'function' ? '_connection.stream.pause/resume (backpressure)' : null,
    typeof connection?.sendCopyFromChunk !== 'function' ? '_connection.sendCopyFromChunk (standby status: confirming the slot)' : null,
  ].filter((part) => part !== null)
  if (lacking.length > 0) throw missing(`pg-logical-replication no longer exposes ${lacking.join(', ')}`)
}

function missing(what: string): RowcastError {
  return new RowcastError('INTERNAL_API_MISSING', `${what}: this version cannot stream safely; install the versions in rowcast's package-lock.json`)
}
