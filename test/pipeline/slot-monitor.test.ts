import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { SlotReader, SlotReading } from '../../core/contracts.ts'
import { Telemetry, type TelemetryEvents } from '../../core/telemetry.ts'
import { startSlotMonitor } from '../../pipeline/slot-monitor.ts'
import { memoryLogger, sleep } from '../support/sync-helpers.ts'

/** A SlotReader over a script of answers: a reading, null (no slot) or an error, one per read. */
function scriptedReader(answers: (SlotReading | null | Error)[]): SlotReader & { reads: string[]; closed: boolean } {
  const reader = {
    reads: [] as string[],
    closed: false,
    async read(slot: string) {
      reader.reads.push(slot)
      const answer = answers.length > 1 ? answers.shift()! : answers[0]
      if (answer instanceof Error) throw answer
      return answer
    },
    async close() {
      reader.closed = true
    },
  }
  return reader
}

const reading = (server: bigint, confirmed: bigint): SlotReading => ({ serverLsn: server, confirmedLsn: confirmed, restartLsn: confirmed - 100n, walStatus: 'reserved', safeWalBytes: null, stats: null })

test('the slot monitor reports each slot on its timer, lag growing while the confirmed position stands still', async () => {
  const telemetry = new Telemetry()
  const seen: TelemetryEvents['slotHealth'][] = []
  telemetry.on('slotHealth', (e) => seen.push(e))
  const reader = scriptedReader([reading(1000n, 1000n), reading(5000n, 1000n), reading(9000n, 1000n)])
  const monitor = startSlotMonitor({ syncs: () => [{ sync: 'a', slot: 'rowcast_a' }], reader, telemetry, logger: memoryLogger().logger, intervalMs: 20 })
  try {
    while (seen.length < 4) await sleep(10)
  } finally {
    await monitor.close()
  }
  assert.deepEqual(seen.slice(0, 3).map((e) => [e.lagBytes, e.retainedBytes]), [[0, 100], [4000, 4100], [8000, 8100]])
  assert.equal(seen[1].lagSeconds, 0) // first seen behind
  assert.ok(seen[3].lagSeconds > 0, 'lag seconds grow while nothing is confirmed')
  assert.equal(reader.closed, true)
})

test('the slot monitor logs an unreachable server once, then again when it answers, and skips a missing slot', async () => {
  const telemetry = new Telemetry()
  const seen: TelemetryEvents['slotHealth'][] = []
  telemetry.on('slotHealth', (e) => seen.push(e))
  const log = memoryLogger()
  const reader = scriptedReader([new Error('ECONNREFUSED'), new Error('ECONNREFUSED'), new Error('ECONNREFUSED'), null, reading(10n, 10n)])
  const monitor = startSlotMonitor({ syncs: () => [{ sync: 'a', slot: 'rowcast_a' }], reader, telemetry, logger: log.logger, intervalMs: 10 })
  try {
    while (seen.length < 1) await sleep(10)
  } finally {
    await monitor.close()
  }
  assert.equal(log.lines().filter((l) => String(l.msg).includes('cannot read the replication slots')).length, 1)
  assert.ok(reader.reads.length >= 5)
})
