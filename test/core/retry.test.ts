import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Backoff, delayFor, RetryWait } from '../../core/retry.ts'

test('Backoff doubles up to its cap and starts over after reset', () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 500 })
  assert.deepEqual([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()], [100, 200, 400, 500, 500])
  backoff.reset()
  assert.equal(backoff.next(), 100)
  assert.deepEqual([0, 1, 2, 3].map((n) => delayFor({ initialMs: 1_000, maxMs: 5_000 }, n)), [1_000, 2_000, 4_000, 5_000])
})

test('RetryWait: stop() ends the wait in progress and every later one', async () => {
  const wait = new RetryWait()
  const started = Date.now()
  const sleeping = wait.sleep(60_000)
  setTimeout(() => wait.stop(), 10)
  await sleeping
  await wait.sleep(60_000)
  assert.ok(Date.now() - started < 5_000, 'neither wait ran its course')
})

test('RetryWait waits its time when nobody stops it', async () => {
  const started = Date.now()
  await new RetryWait().sleep(30)
  assert.ok(Date.now() - started >= 25)
})
