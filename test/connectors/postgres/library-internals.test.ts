import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { LogicalReplicationService } from 'pg-logical-replication'
import { assertBufferInternals, assertReplicationInternals } from '../../../connectors/postgres/library-internals.ts'
import { RowcastError } from '../../../core/errors.ts'

describe('library internals rowcast relies on', () => {
  test('this Node.js has Buffer#utf8Slice; a Buffer without it is refused with a clear error', () => {
    assertBufferInternals()
    assert.throws(() => assertBufferInternals({}), (error: unknown) => error instanceof RowcastError && error.code === 'INTERNAL_API_MISSING' && /Buffer#utf8Slice/.test(error.message))
  })

  test('a started service with the connection parts passes', () => {
    const socket = { pause() {}, resume() {} }
    assert.doesNotThrow(() => assertReplicationInternals({ _connection: { stream: socket, sendCopyFromChunk() {} } }))
  })

  test('a service whose connection moved or lost its parts is refused, naming what is missing', () => {
    // Not connected: the real class keeps `_connection` null until subscribe() connects.
    assert.throws(() => assertReplicationInternals(new LogicalReplicationService({})), /no longer exposes _connection/)
    assert.throws(() => assertReplicationInternals({ _connection: { stream: {}, sendCopyFromChunk() {} } }), /stream\.pause\/resume \(backpressure\)/)
    assert.throws(() => assertReplicationInternals({ _connection: { stream: { pause() {}, resume() {} } } }), /sendCopyFromChunk \(standby status/)
  })
})
