import pg from 'pg'
import type { CheckResult } from '../../core/check-result.ts'
import type { SyncConfig } from '../../config/load-config.ts'
import { ConfigError, errorMessage } from '../../core/errors.ts'
import { resolveSync } from '../../pipeline/resolve-sync.ts'
import { describeTable } from './catalog.ts'
import { redactSecrets } from '../../core/secrets.ts'

/**
 * The PostgreSQL half of `rowcast check`: reachable, wal_level=logical, the user may replicate, and each
 * sync's table, columns and replica identity fit its triggers and filter.
 */
export async function checkPostgres(url: string, syncs: readonly SyncConfig[]): Promise<CheckResult[]> {
  const results: CheckResult[] = []
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 })
  try {
    await client.connect()
  } catch (error) {
    results.push({ name: 'postgres: reachable', ok: false, detail: redactSecrets(errorMessage(error)), fix: 'check source.postgres.url (host, port, database, user, password) and that PostgreSQL accepts connections from here' })
    return results
  }
  try {
    const version = (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v
    results.push({ name: 'postgres: reachable', ok: true, detail: `PostgreSQL ${version}` })
    const wal = (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0].wal_level
    results.push(wal === 'logical'
      ? { name: 'postgres: wal_level', ok: true, detail: 'logical' }
      : { name: 'postgres: wal_level', ok: false, detail: `wal_level is ${wal}, logical replication needs logical`, fix: "ALTER SYSTEM SET wal_level = 'logical'; then restart PostgreSQL" })
    const role = (await client.query<{ rolreplication: boolean; rolsuper: boolean; rolname: string }>('SELECT rolname, rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user')).rows[0]
    results.push(role.rolreplication || role.rolsuper
      ? { name: 'postgres: replication privilege', ok: true, detail: `role ${role.rolname} may replicate` }
      : { name: 'postgres: replication privilege', ok: false, detail: `role ${role.rolname} has no REPLICATION attribute`, fix: `ALTER ROLE ${role.rolname} WITH REPLICATION` })
    for (const [index, sync] of syncs.entries()) {
      const name = `postgres: sync ${sync.name} (${sync.model.table})`
      try {
        const resolved = resolveSync(await describeTable(client, sync.model.table), sync, index)
        results.push({ name, ok: true, detail: `table, columns and key ok (replica identity ${resolved.table.replicaIdentity})` })
        for (const warning of resolved.warnings) results.push({ name: `${name} replica identity`, ok: true, detail: `warning: ${warning}` })
      } catch (error) {
        const detail = error instanceof ConfigError ? error.issues.map((i) => `${i.path}: ${i.message}`).join('; ') : errorMessage(error)
        results.push({ name, ok: false, detail: redactSecrets(detail), fix: 'fix the sync in the config file or the table (see the message)' })
      }
    }
  } finally {
    await client.end()
  }
  return results
}
