/** Samples kept at most: the oldest one decides, the rest only refine it (one per tick: hours at 10 s). */
const MAX_SAMPLES = 2048

/**
 * Lag in seconds from the server's view: how long ago the server's WAL was last at (or before) the slot's
 * confirmed position. Fed one (time, server position) sample per tick; clock-free and pure.
 * A sync that confirms nothing while the server writes sees its lag grow by the time passed; one that
 * keeps up sees it stay within a tick.
 */
export class LagClock {
  #samples: { at: number; lsn: bigint }[] = []
  #lastConfirmed = 0n

  /** Records the server's position at `now`; returns the lag of `confirmed`, in seconds. */
  observe(now: number, serverLsn: bigint, confirmed: bigint): number {
    if (confirmed < this.#lastConfirmed) this.#samples = [] // a new slot: positions start over
    this.#lastConfirmed = confirmed
    this.#samples.push({ at: now, lsn: serverLsn })
    // Samples at or below the confirmed position are delivered history: the first one beyond it decides.
    while (this.#samples.length > 0 && this.#samples[0].lsn <= confirmed) this.#samples.shift()
    if (this.#samples.length > MAX_SAMPLES) this.#samples.splice(1, 1) // keep the oldest: it is the answer
    const oldest = this.#samples[0]
    return oldest === undefined ? 0 : (now - oldest.at) / 1000
  }
}
