/**
 * Start-up of a sync's Schema Registry encoding (`message.format: avro | json-schema`): the schema is read from
 * `message.schema` (a file, relative to the config file) or derived from the model columns a `mapping` names;
 * one encoder per topic (subject `<topic>-value`, topic-name strategy). Fixed and per-trigger topics are
 * registered here, before the sync streams, so a schema the registry refuses fails the sync at start-up with
 * the registry's reason. Topics read from a column are registered on first use (see operators/encode-value.ts).
 */
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { TopicEncoders } from '../core/contracts.ts'
import { ConfigError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { SchemaRegistryConfig } from '../connectors/kafka/schema-registry/config.ts'
import type { SchemaField } from '../connectors/kafka/schema-registry/derive-schema.ts'
import { registryTopicEncoders } from '../connectors/kafka/schema-registry/topic-encoders.ts'
import { staticTopics } from '../operators/route-topic.ts'
import type { ResolvedSync } from './resolve-sync.ts'

export interface ValueEncodersOptions {
  /** `destination.schemaRegistry`. */
  registry: SchemaRegistryConfig | undefined
  /** The config file's folder: `message.schema` is relative to it. */
  baseDir: string
  /** The sync's position in `syncs`, for error paths. */
  index: number
  logger: Logger
}

/** null for `format: json`; else the encoders, with every statically known topic's schema ready. */
export async function prepareValueEncoders(resolved: ResolvedSync, options: ValueEncodersOptions): Promise<TopicEncoders | null> {
  const { config: sync } = resolved
  if (sync.message === undefined || sync.message.format === 'json') return null
  const { format } = sync.message
  const path = `syncs[${options.index}].message`
  const registry = options.registry
  if (registry === undefined) throw new ConfigError([{ path: 'destination.schemaRegistry', message: `required by ${path}.format ${format}` }])
  const schemaFile = sync.message.schema === undefined ? undefined : readSchemaFile(resolve(options.baseDir, sync.message.schema), `${path}.schema`)
  const encoders = registryTopicEncoders({ registry, format, schema: schemaFile === undefined ? { fields: mappingFields(resolved, path) } : { text: schemaFile }, logger: options.logger })
  await encoders.prepare(staticTopics(sync.topic))
  return encoders
}

function readSchemaFile(file: string, path: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError([{ path, message: `cannot read the schema file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` }])
  }
}

/**
 * The mapping's fields with the model columns they come from (resolveSync has checked that each exists).
 * Without REPLICA IDENTITY FULL a removed row carries only its key, so the other fields are nullable in the schema.
 */
function mappingFields(resolved: ResolvedSync, path: string): SchemaField[] {
  const mapping = resolved.config.message?.mapping
  if (mapping === undefined) throw new ConfigError([{ path: `${path}.schema`, message: 'a template or column message needs a schema file (a schema is derived only from a mapping)' }])
  const byName = new Map(resolved.columns.map((c) => [c.name, c]))
  const keyOnlyRemovals = resolved.table.replicaIdentity !== 'full'
  return Object.entries(mapping).map(([field, name]) => {
    const column = byName.get(name)
    if (column === undefined) throw new ConfigError([{ path: `${path}.mapping.${field}`, message: `column "${name}" is not one of the model's columns` }])
    const nullable = column.nullable || (keyOnlyRemovals && !resolved.model.keyColumns.includes(name))
    return { field, column: nullable === column.nullable ? column : { ...column, nullable } }
  })
}
