/**
 * kafkajs 2.2.x's RequestQueue#scheduleCheckPendingRequests, with its timeout kept at 1 ms or more. With nothing
 * pending and no throttle (its `throttledUntil` starts at -1) kafkajs calls setTimeout(fn, -1 - Date.now()):
 * Node 20 and 22 run that after 1 ms in silence, Node 24 does the same and prints a TimeoutNegativeWarning on
 * stderr. The copy below is kafkajs' method (src/network/requestQueue/index.js) with Math.max(1, …) added: the
 * same schedule on every Node, without the warning.
 */
import { createRequire } from 'node:module'

const REQUEST_QUEUE_FILE = 'kafkajs/src/network/requestQueue/index.js'
const CHECK_PENDING_REQUESTS_INTERVAL = 10 // kafkajs' constant of the same name

interface RequestQueueLike {
  throttledUntil: number
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null
  pending: unknown[]
  checkPendingRequests(): void
  scheduleCheckPendingRequests(): void
}

const require = createRequire(import.meta.url)

/** Replaces the method on kafkajs' RequestQueue (loaded or not); false when kafkajs lays it out differently. */
export function clampRequestQueueTimeout(): boolean {
  let queue: { prototype: RequestQueueLike }
  try {
    queue = require(REQUEST_QUEUE_FILE) as { prototype: RequestQueueLike }
  } catch {
    return false
  }
  if (typeof queue.prototype?.scheduleCheckPendingRequests !== 'function') return false
  queue.prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueLike) {
    let scheduleAt = this.throttledUntil - Date.now()
    if (!this.throttleCheckTimeoutId) {
      if (this.pending.length > 0) scheduleAt = scheduleAt > 0 ? scheduleAt : CHECK_PENDING_REQUESTS_INTERVAL
      this.throttleCheckTimeoutId = setTimeout(() => {
        this.throttleCheckTimeoutId = null
        this.checkPendingRequests()
      }, Math.max(1, scheduleAt))
    }
  }
  return true
}
