import { test } from 'node:test'
import assert from 'node:assert/strict'
import { throttleDelayMs } from '../../../connectors/postgres/chunked-snapshot.ts'

test('snapshot.maxRowsPerSecond: the next chunk waits until the rows read so far fit under the ceiling', () => {
  assert.equal(throttleDelayMs(10_000, 1_000, undefined), 0, 'no ceiling: no wait')
  assert.equal(throttleDelayMs(0, 0, 1_000), 0, 'the first chunk starts at once')
  assert.equal(throttleDelayMs(2_000, 500, 1_000), 1_500, '2,000 rows at 1,000/s take 2 s')
  assert.equal(throttleDelayMs(2_000, 3_000, 1_000), 0, 'already slower than the ceiling')
})
