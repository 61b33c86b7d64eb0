/** Backfill: rows/s of the initial backfill (`initialSync: backfill`) of a filled table, beside a bare cursor read. */
import type { BenchContext } from './context.ts'
import { bareCursorRead, type RateResult } from './ceilings.ts'
import { createTopics, watchUntil } from './kafka-watch.ts'
import { rowcastYaml } from './rowcast-config.ts'
import { startRowcast } from './rowcast-process.ts'
import { createTable, fillTable, withClient } from './workload.ts'

export interface BackfillResult {
  rows: number
  startupSeconds: number
  seconds: number
  perSecond: number
  peakRssMiB: number
  cpuSeconds: number
  cursorRead: RateResult
}

export async function backfillRun(ctx: BenchContext, suffix: string, rows: number, log: (line: string) => void): Promise<BackfillResult> {
  const { env, prefix, created } = ctx
  const name = `${prefix}_bf${suffix}`
  log(`backfill: filling a table with ${rows.toLocaleString('en-US')} rows…`)
  await withClient(env.ROWCAST_PG_URL, async (client) => {
    await createTable(client, name)
    created.tables.push(name)
    await fillTable(client, name, rows, `${prefix}_t`)
  })
  const cursorRead = await bareCursorRead(env.ROWCAST_PG_URL, name)
  log(`  bare cursor read: ${Math.round(cursorRead.perSecond).toLocaleString('en-US')} rows/s`)
  created.topics.push(name) // first: a create that times out may still have created it
  await createTopics(ctx.admin, [name])
  created.slots.push(name)
  created.syncs.push(name)
  const child = startRowcast({ configYaml: rowcastYaml(env, { name, table: name, slot: name, topic: name, mode: 'mapping', initialSync: 'backfill' }), workDir: ctx.workDir, name })
  created.processes.push(child)
  const spawnedAt = performance.now()
  let cpuAtFirst: number | null = null
  try {
    const watched = await watchUntil(ctx.admin, [name], rows, {
      isAlive: () => child.footprint() !== null,
      onTick: (count) => {
        if (count > 0 && cpuAtFirst === null) cpuAtFirst = child.footprint()?.cpuSeconds ?? null
      },
    })
    const end = child.footprint()
    const stopped = await child.stop()
    const seconds = (watched.doneAt - watched.firstAt) / 1000
    return {
      rows: watched.count,
      startupSeconds: (watched.firstAt - spawnedAt) / 1000,
      seconds,
      perSecond: watched.count / seconds,
      peakRssMiB: stopped.footprint?.peakRssMiB ?? end?.peakRssMiB ?? NaN,
      cpuSeconds: (end?.cpuSeconds ?? NaN) - (cpuAtFirst ?? 0),
      cursorRead,
    }
  } finally {
    await child.stop(10_000)
  }
}
