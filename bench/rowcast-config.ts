/** The rowcast config files the benchmark runs: one sync on the bench table, in one of the message modes. */
import { stringify } from 'yaml'
import type { StackEnv } from '../scripts/stack-env.ts'
import { SEED_TEMPLATE } from '../test/support/seed-examples.ts'

export { SEED_TEMPLATE }

export type MessageMode = 'mapping' | 'template' | 'column'


export const MAPPING = { id: 'id', name: 'full_name', age: 'age', email: 'email_address', phone: 'phone_number', plan: 'plan', updated_at: 'updated_at' }

export function messageConfig(mode: MessageMode): Record<string, unknown> {
  switch (mode) {
    case 'mapping':
      return { mapping: MAPPING }
    case 'template':
      return { template: SEED_TEMPLATE }
    case 'column':
      return { column: 'payload' }
  }
}

export interface SyncSpec {
  name: string
  table: string
  /** Slot and publication name (the same). */
  slot: string
  topic: string | { column: string }
  mode: MessageMode
  initialSync?: 'skip' | 'backfill'
  /** The sync's `snapshot` section (chunkRows, parallelism where the build has it). */
  snapshot?: Record<string, unknown>
  httpPort?: number
}

export function rowcastYaml(env: StackEnv, spec: SyncSpec): string {
  const config: Record<string, unknown> = {
    source: { postgres: { url: env.ROWCAST_PG_URL } },
    destination: { kafka: { clientId: `rowcast-${spec.name}`, brokers: env.KAFKA_BOOTSTRAP_PLAINTEXT } },
    syncs: [
      {
        name: spec.name,
        model: { table: `public.${spec.table}` },
        slot: spec.slot,
        publication: spec.slot,
        topic: spec.topic,
        key: 'id',
        message: messageConfig(spec.mode),
        initialSync: spec.initialSync ?? 'skip',
        ...(spec.snapshot === undefined ? {} : { snapshot: spec.snapshot }),
      },
    ],
    ...(spec.httpPort === undefined ? {} : { http: { port: spec.httpPort } }),
    // Experiments: ROWCAST_BENCH_LIMITS='{"maxInFlightMessages":10000}' overrides the defaults.
    ...(process.env.ROWCAST_BENCH_LIMITS ? { limits: JSON.parse(process.env.ROWCAST_BENCH_LIMITS) as Record<string, number> } : {}),
  }
  return stringify(config)
}
