import type { SlotReader } from '../core/contracts.ts'
import { errorMessage } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { Telemetry } from '../core/telemetry.ts'
import { LagClock } from './lag-clock.ts'

export interface SlotMonitorOptions {
  /** The syncs and their slots (`shared`: a stream group's slot, read as the sync stands in it), asked at every tick (a reload adds and removes syncs). */
  syncs: () => readonly { sync: string; slot: string; shared?: boolean }[]
  reader: SlotReader
  telemetry: Telemetry
  logger: Logger
  intervalMs: number
}

/**
 * Reads every sync's slot on a timer, from the server's view, and reports it as `slotHealth` telemetry: lag
 * (bytes and seconds), WAL retained, WAL status and decoding statistics. It runs whatever the syncs do, so a
 * stuck, paused or failing sync still shows its lag growing (metrics and alerts listen). One query per sync per tick.
 */
export function startSlotMonitor(options: SlotMonitorOptions): { close(): Promise<void> } {
  const { reader, telemetry, logger } = options
  const clocks = new Map<string, LagClock>()
  const clockOf = (sync: string) => clocks.get(sync) ?? clocks.set(sync, new LagClock()).get(sync)!
  let failing = false
  let running: Promise<void> | null = null
  let closed = false

  async function tick(): Promise<void> {
    for (const { sync, slot, shared } of options.syncs()) {
      if (closed) return
      try {
        const reading = await reader.read(slot, shared === true ? sync : undefined)
        if (failing) logger.info('slot monitor: PostgreSQL answers again')
        failing = false
        if (reading === null) continue // not created yet, or lost: the sync itself reports that
        const lagBytes = positive(reading.serverLsn - reading.confirmedLsn)
        const lagSeconds = clockOf(sync).observe(Date.now(), reading.serverLsn, reading.confirmedLsn)
        const retainedBytes = reading.restartLsn === null ? 0 : positive(reading.serverLsn - reading.restartLsn)
        telemetry.emit('slotHealth', { sync, slot, lagBytes, lagSeconds, retainedBytes, walStatus: reading.walStatus, safeWalBytes: reading.safeWalBytes, stats: reading.stats })
      } catch (error) {
        // PostgreSQL down is the syncs' own alert (postgres-unreachable): say it once, not every tick.
        if (!failing) logger.warn({ error: errorMessage(error) }, 'slot monitor: cannot read the replication slots; retrying every tick')
        failing = true
        return
      }
    }
  }

  const timer = setInterval(() => {
    running ??= tick().finally(() => (running = null))
  }, options.intervalMs)
  timer.unref()

  return {
    async close() {
      closed = true
      clearInterval(timer)
      await running
      await reader.close()
    },
  }
}

function positive(diff: bigint): number {
  return diff > 0n ? Number(diff) : 0
}
