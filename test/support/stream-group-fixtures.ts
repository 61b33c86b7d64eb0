import type { StackEnv } from '../../scripts/stack-env.ts'
import { sql } from './harness.ts'

/** What the stream-group tests share: rows of ~3 KB, a shared sync of (id, n), and the table's final state. */

export const PAD = 'x'.repeat(3_000)

/** The table's rows as PostgreSQL holds them at the end: id -> n. */
export async function finalsOf(env: StackEnv, table: string): Promise<Map<number, number>> {
  const result = await sql(env, `SELECT id, n FROM ${table}`)
  return new Map(result.rows.map((r: { id: number; n: number }) => [r.id, r.n]))
}

/** A `stream: shared` sync of the table's id and n into `topic`. */
export function sharedSyncYaml(name: string, table: string, topic: string): string {
  return `  - name: ${name}
    stream: shared
    model: { table: ${table}, columns: [id, n, pad] }
    topic: ${topic}
    message: { format: json, mapping: { id: id, n: n } }
`
}
