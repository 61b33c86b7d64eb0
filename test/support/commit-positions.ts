import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseLsn, type Lsn } from '../../core/lsn.ts'
import { sql, uniqueName } from './harness.ts'

/**
 * Where each change of a test's tables was committed, read from PostgreSQL itself: a logical slot of its own
 * (test_decoding, which ships with PostgreSQL), made before the writes start. Its COMMIT rows stand at the
 * transaction's end LSN, the position pgoutput's COMMIT carries and a sync's cursor (_rowcast.sync_state
 * .confirmed_lsn) is made of: a change whose commit end is at or below a sync's cursor was recorded as delivered.
 * Changes are keyed `id:n` per table (rows `(id int, n int, …)`, as the tests' writers update them).
 */
export interface CommitPositions {
  /** Reads every change decoded so far (and drops the slot's backlog): table → `id:n` → commit end LSN. */
  read(tables: readonly string[]): Promise<Map<string, Map<string, Lsn>>>
  drop(): Promise<void>
}

export async function watchCommitPositions(env: StackEnv): Promise<CommitPositions> {
  const slot = uniqueName('commits')
  await sql(env, "SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot])
  const found = new Map<string, Map<string, Lsn>>()
  return {
    async read(tables) {
      const wanted = new Set(tables)
      for (const table of tables) if (!found.has(table)) found.set(table, new Map())
      let open: { table: string; key: string }[] = []
      for (;;) {
        // In pieces: rows carry the whole tuple (the tests' padding too).
        const { rows } = await sql(env, "SELECT lsn::text AS lsn, data FROM pg_logical_slot_get_changes($1, NULL, 2000, 'skip-empty-xacts', '1')", [slot])
        for (const { lsn, data } of rows as { lsn: string; data: string }[]) {
          if (data.startsWith('BEGIN')) open = []
          else if (data.startsWith('COMMIT')) {
            const end = parseLsn(lsn)
            for (const change of open) found.get(change.table)!.set(change.key, end)
            open = []
          } else {
            const match = /^table public\.([^:]+): (?:INSERT|UPDATE): id\[integer\]:(\d+) n\[integer\]:(\d+)/.exec(data)
            if (match !== null && wanted.has(match[1]!)) open.push({ table: match[1]!, key: `${match[2]}:${match[3]}` })
          }
        }
        if (rows.length === 0) break
      }
      return found
    },
    async drop() {
      await sql(env, 'SELECT pg_drop_replication_slot($1)', [slot]).catch(() => undefined)
    },
  }
}
