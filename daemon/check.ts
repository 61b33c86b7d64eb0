import { checkKafka } from '../connectors/kafka/check.ts'
import { createRegistryClient } from '../connectors/kafka/schema-registry/registry-client.ts'
import { describeTable } from '../connectors/postgres/catalog.ts'
import { checkPostgres, type TableCheck } from '../connectors/postgres/check.ts'
import { rowFilterIssue } from '../connectors/postgres/row-filter.ts'
import { staticTopics } from '../operators/route-topic.ts'
import type { CheckResult } from '../core/check-result.ts'
import type { RowcastConfig } from '../config/root-schema.ts'
import { ConfigError, errorMessage } from '../core/errors.ts'
import { redactSecrets } from '../core/secrets.ts'
import { resolveSync } from '../pipeline/resolve-sync.ts'
import { resolveMessagesSync } from '../pipeline/resolve-messages-sync.ts'

/** `rowcast check` (and `run` before it starts): PostgreSQL and each sync's table, Kafka and its topics, the Schema Registry. */
export async function runChecks(config: RowcastConfig): Promise<CheckResult[]> {
  const topics = new Set<string>()
  for (const sync of config.syncs) {
    for (const topic of staticTopics(sync.topic)) topics.add(topic)
    if (typeof sync.onRowError === 'object') topics.add(sync.onRowError.deadLetter.topic)
  }
  const tables = config.syncs.map((sync, index): TableCheck => {
    const table = sync.model.table
    if (table === undefined) {
      return {
        name: `postgres: sync ${sync.name} (logical messages)`,
        check: () => Promise.resolve({ detail: `messages with a prefix starting with ${JSON.stringify(resolveMessagesSync(sync, index).messages?.prefix)}: config ok`, warnings: [] }),
      }
    }
    return {
      name: `postgres: sync ${sync.name} (${table})`,
      check: async (client) => {
        const resolved = resolveSync(await describeTable(client, table), sync, index)
        const filterIssue = sync.model.filter === undefined ? undefined : await rowFilterIssue(client, resolved.table.name, sync.model.filter, `syncs[${index}].model.filter`)
        if (filterIssue !== undefined) throw new ConfigError([filterIssue])
        return { detail: `table, columns and key ok (replica identity ${resolved.table.replicaIdentity})`, warnings: resolved.warnings }
      },
    }
  })
  const [postgres, kafka, registry] = await Promise.all([
    checkPostgres(config.source.postgres.url, tables),
    checkKafka(config.destination.kafka, [...topics]),
    checkRegistry(config),
  ])
  return [...postgres, ...kafka, ...registry]
}

export async function checkRegistry(config: RowcastConfig): Promise<CheckResult[]> {
  const registry = config.destination.schemaRegistry
  if (registry === undefined) return []
  const name = 'schema registry'
  try {
    await createRegistryClient(registry).ping()
    return [{ name, ok: true, detail: `${registry.url} reachable` }]
  } catch (error) {
    return [{ name, ok: false, detail: redactSecrets(errorMessage(error)), fix: 'check destination.schemaRegistry (url, auth, ca)' }]
  }
}

/** One line per result: `ok   name: detail`, or `FAIL name: detail — fix: …`. */
export function printChecks(results: readonly CheckResult[], print: (line: string) => void): void {
  for (const r of results) print(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}${!r.ok && r.fix ? ` — fix: ${r.fix}` : ''}`)
}
