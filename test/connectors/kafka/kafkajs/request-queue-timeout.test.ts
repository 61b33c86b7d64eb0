import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { loadKafkajs } from '../../../../connectors/kafka/kafkajs/patch.ts'

/**
 * kafkajs 2.2.x's request queue, when nothing is pending and no throttle is set, schedules its next check with
 * setTimeout(fn, -1 - Date.now()). Node 20 and 22 take that as 1 ms in silence; Node 24 also prints a
 * TimeoutNegativeWarning on stderr, in the daemon's log and in `rowcast check`'s output. rowcast's kafkajs
 * schedules it at 1 ms, as every Node did.
 */

const require = createRequire(import.meta.url)

test("kafkajs' request queue never asks for a negative timeout", () => {
  loadKafkajs()
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: object) => {
    pending: unknown[]
    scheduleCheckPendingRequests(): void
    destroy(): void
  }
  const logger = { debug() {}, info() {}, warn() {}, error() {} }
  const queue = new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 30_000, enforceRequestTimeout: true, clientId: 'c', broker: 'b', logger })
  const delays: number[] = []
  const original = globalThis.setTimeout
  globalThis.setTimeout = ((fn: () => void, delay?: number) => {
    delays.push(delay ?? 0)
    return original(fn, Math.max(1, delay ?? 0))
  }) as typeof setTimeout
  try {
    queue.scheduleCheckPendingRequests() // nothing pending, never throttled: the case kafkajs hits after every response
  } finally {
    globalThis.setTimeout = original
    queue.destroy()
  }
  assert.equal(delays.length, 1)
  assert.ok(delays[0] >= 1, `setTimeout delay ${delays[0]}`)
})
