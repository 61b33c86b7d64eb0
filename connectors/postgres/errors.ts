import { RowcastError, errorMessage } from '../../core/errors.ts'

/**
 * PostgreSQL errors at the connector edge: a lost or refused connection, or a server shutting down or
 * restarting, is worth retrying; everything else (SQL errors, permissions) is not.
 */
const RETRIABLE_SQLSTATE = /^(08|57P0[1-3]|53300|55006)/ // connection exception, admin/crash shutdown, cannot connect now, too many connections, slot in use
const RETRIABLE_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'])

export function translatePgError(error: unknown): unknown {
  if (error instanceof RowcastError) return error
  const code = (error as { code?: unknown } | null)?.code
  const message = errorMessage(error)
  const retriable =
    (typeof code === 'string' && (RETRIABLE_SQLSTATE.test(code) || RETRIABLE_NODE.has(code))) ||
    /Connection terminated|connection (was )?closed|server closed the connection/i.test(message)
  return retriable ? new RowcastError('PG_CONNECTION_LOST', `PostgreSQL connection lost: ${message}`, { cause: error }) : error
}
