/**
 * What every benchmark scenario shares: the stack, a Kafka admin, unique names, and a record of what was
 * created (tables, slots, publications, topics) so it is all dropped at the end, even after a failure:
 * a forgotten slot would hold WAL forever.
 */
import type { Admin, Kafka } from 'kafkajs'
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

  async dropAll(ctx: BenchContext): Promise<void> {
    for (const p of this.processes) await p.stop(5_000).catch(() => undefined)
    await deleteTopics(ctx.admin, this.topics)
    await withClient(ctx.env.ROWCAST_PG_URL, async (client) => {
      for (const slot of this.slots) {
        for (let attempt = 0; attempt < 20; attempt++) {
          const active = await client.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])
          if (active.rowCount === 0) break
          await new Promise((r) => setTimeout(r, 500))
        }
        await dropPublicationAndSlot(client, slot)
      }
      for (const table of this.tables) await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined)
      if (this.syncs.length > 0) {
        await client.query('DELETE FROM _rowcast.sync_state WHERE sync = ANY($1)', [this.syncs]).catch(() => undefined)
      }
    })
  }
}
