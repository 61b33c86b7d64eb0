/**
 * The one backoff of rowcast: exponential, capped, with an interruptible wait. The sync supervisor, the Kafka
 * sink, the alert notifier and kafkajs' own retry options all take their delays from here, so a change of
 * policy is made once.
 */
export interface BackoffPolicy {
  initialMs: number
  maxMs: number
  /** Each failure multiplies the delay by this (default 2). */
  multiplier?: number
}

/** Reconnecting to PostgreSQL or Kafka after a lost connection: 1 s, 2 s, 4 s … 30 s. */
export const RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000 }

/** kafkajs' own retries inside one call (connections, metadata): 300 ms doubling to 30 s. */
export const KAFKA_CLIENT_BACKOFF: BackoffPolicy = { initialMs: 300, maxMs: 30_000 }

/** A delay that grows with each failure and starts over after a success. */
export class Backoff {
  readonly #policy: BackoffPolicy
  #next: number

  constructor(policy: BackoffPolicy) {
    this.#policy = policy
    this.#next = policy.initialMs
  }

  /** The delay before the next try; each call grows the one after it. */
  next(): number {
    const delay = this.#next
    this.#next = Math.min(delay * (this.#policy.multiplier ?? 2), this.#policy.maxMs)
    return delay
  }

  reset(): void {
    this.#next = this.#policy.initialMs
  }
}

/** The n-th delay (from 0) of a policy, for callers that count their own attempts. */
export function delayFor(policy: BackoffPolicy, attempt: number): number {
  return Math.min(policy.initialMs * (policy.multiplier ?? 2) ** attempt, policy.maxMs)
}

/**
 * Waits between retries that a stop can cut short: `sleep(ms)` waits (not at all once stopped), `stop()` ends
 * the wait in progress and every later one.
 */
export class RetryWait {
  #wake: (() => void) | null = null
  #stopped = false

  sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.#wake = null
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.#wake = wake
    })
  }

  stop(): void {
    this.#stopped = true
    this.#wake?.()
  }
}
