/**
 * What every benchmark scenario shares: the stack, a Kafka admin, unique names, and a record of what was
 * created (tables, slots, publications, topics) so it is all dropped at the end, even after a failure:
 * a forgotten slot would hold WAL forever.
 */
import type { Admin, Kafka } from 'kafkajs'
import type pg from 'pg'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { repoRoot } from '../scripts/stack-env.ts'
import type { StackEnv } from '../scripts/stack-env.ts'
import { deleteTopics } from './kafka-watch.ts'
import { dropPublicationAndSlot, withClient } from './workload.ts'
import type { RowcastProcess } from './rowcast-process.ts'

export interface BenchContext {
  env: StackEnv
  kafka: Kafka
  admin: Admin
  /** Unique prefix of every name this run creates, e.g. bench_1a2b3c4d. */
  prefix: string
  /** Temporary folder for configs and rowcast logs. */
  workDir: string
  created: Created
}

export class Created {
  readonly topics: string[] = []
  readonly slots: string[] = []
  readonly tables: string[] = []
  readonly syncs: string[] = []
  readonly processes: RowcastProcess[] = []

  /** Drops a slot (and its publication) once its reader let go of it. */
  async dropSlot(ctx: BenchContext, slot: string): Promise<void> {
    await withClient(ctx.env.ROWCAST_PG_URL, (client) => dropWhenInactive(client, slot))
    const index = this.slots.indexOf(slot)
    if (index !== -1) this.slots.splice(index, 1)
  }

  async dropAll(ctx: BenchContext): Promise<void> {
    for (const p of this.processes) await p.stop(5_000).catch(() => undefined)
    await deleteTopics(ctx.admin, this.topics)
    await withClient(ctx.env.ROWCAST_PG_URL, async (client) => {
      for (const slot of this.slots) await dropWhenInactive(client, slot)
      for (const table of this.tables) await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined)
      if (this.syncs.length > 0) {
        await client.query('DELETE FROM _rowcast.sync_state WHERE sync = ANY($1)', [this.syncs]).catch(() => undefined)
      }
    })
  }
}

async function dropWhenInactive(client: pg.ClientBase, slot: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const active = await client.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])
    if (active.rowCount === 0) break
    await new Promise((r) => setTimeout(r, 500))
  }
  await dropPublicationAndSlot(client, slot)
}

/** Replication slots still free on the server (leaked inactive slots of other runs count against the limit). */
export async function freeSlots(ctx: BenchContext): Promise<{ free: number; inactive: number }> {
  return withClient(ctx.env.ROWCAST_PG_URL, async (client) => {
    const r = await client.query<{ free: number; inactive: number }>(
      "SELECT current_setting('max_replication_slots')::int - count(*)::int AS free, count(*) FILTER (WHERE NOT active)::int AS inactive FROM pg_replication_slots")
    return r.rows[0]
  })
}

/** The broker's pid (it changes when a fault test of the shared stack restarts Kafka). */
export function brokerPid(): string {
  try {
    return readFileSync(join(repoRoot, '.stack', 'kafka.pid'), 'utf8').trim()
  } catch {
    return ''
  }
}

/** Waits until the broker answers (another engineer's fault test may have stopped it for a while). */
export async function waitForBroker(ctx: BenchContext, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await ctx.admin.describeCluster().then(() => true, () => false)
    if (ok) return
    if (Date.now() > deadline) throw new Error(`Kafka at ${ctx.env.KAFKA_BOOTSTRAP_PLAINTEXT} did not answer for ${timeoutMs / 1000} s`)
    await new Promise((r) => setTimeout(r, 1_000))
  }
}

/**
 * Runs a measurement up to `attempts` times: again when it fails or when the shared broker was restarted
 * during it (the figure would be the fault test's, not ours). `measure(suffix)` gets '' then '_r2', '_r3'
 * for fresh names. The last attempt's figure is kept even if disturbed, flagged by `disturbed`.
 */
export async function measureStable<T>(ctx: BenchContext, label: string, log: (line: string) => void, measure: (suffix: string) => Promise<T>, attempts = 3): Promise<{ value: T; disturbed: boolean }> {
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) await new Promise((r) => setTimeout(r, 10_000)) // let a restarted broker settle
    await waitForBroker(ctx)
    const before = brokerPid()
    try {
      const value = await measure(attempt === 1 ? '' : `_r${attempt}`)
      const disturbed = brokerPid() !== before
      if (!disturbed || attempt >= attempts) return { value, disturbed }
      log(`  ${label}: the broker was restarted by another test during the measurement; measuring again`)
    } catch (error) {
      if (attempt >= attempts) throw error
      log(`  ${label} failed (${error instanceof Error ? error.message : String(error)}); measuring again`)
    }
  }
}
