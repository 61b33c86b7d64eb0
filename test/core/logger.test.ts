import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createLogger } from '../../core/logger.ts'
import { registerSecret } from '../../core/secrets.ts'
import { errorMessage, RowcastError } from '../../core/errors.ts'

function captured() {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } })
  return { logger, lines }
}

describe('the logger scrubs secrets itself', () => {
  test('a registered secret is replaced wherever it lands in the line: message, fields, nested objects, error stacks', () => {
    registerSecret('logger-secret-value-0042')
    const { logger, lines } = captured()
    logger.info({ detail: 'uses logger-secret-value-0042', nested: { deep: ['x logger-secret-value-0042'] } }, 'connecting with logger-secret-value-0042')
    logger.error({ err: new Error('refused for logger-secret-value-0042') }, 'failed')
    assert.equal(lines.length, 2)
    for (const line of lines) assert.equal(line.includes('logger-secret-value-0042'), false, line)
    assert.match(lines[0], /connecting with \[redacted\]/)
  })

  test('fields named like credentials are censored even when never registered', () => {
    const { logger, lines } = captured()
    logger.info({ password: 'never-registered-1', auth: { token: 'never-registered-2' }, headers: { authorization: 'Bearer never-registered-3' } }, 'x')
    assert.equal(/never-registered/.test(lines[0]), false, lines[0])
  })

  test('error messages are scrubbed when made, so they are safe in alerts and /readyz too', () => {
    registerSecret('error-secret-value-0043')
    const error = new RowcastError('KAFKA_UNREACHABLE', 'broker said error-secret-value-0043')
    assert.equal(error.message, 'broker said [redacted]')
    assert.equal(errorMessage(new Error('library error-secret-value-0043')), 'library [redacted]')
  })
})
