import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { kafkaConfigSchema } from '../connectors/kafka/config.ts'
import { DEFAULT_SINK_LIMITS } from '../connectors/kafka/sink.ts'
import { schemaRegistryConfigSchema } from '../connectors/kafka/schema-registry/config.ts'
import { onRowErrorSchema } from '../operators/handle-row-errors.ts'
import { messageConfigSchema } from '../operators/compose-message.ts'
import { topicConfigSchema } from '../operators/route-topic.ts'
import { triggersSchema } from '../operators/filter-triggers.ts'
import { keyPartitionHeadersSchema } from '../operators/set-key-partition-headers.ts'
import { alertThresholdsSchema } from '../observability/alerts/alert-policy.ts'
import { alertsConfigSchema } from '../observability/alerts/notifier.ts'
import { debuggerConfigSchema } from '../observability/debugger/debugger-feed.ts'
import { ConfigError, type ConfigIssue } from '../core/errors.ts'
import { httpConfigSchema } from '../observability/http-server.ts'
import { registerSecret } from '../core/secrets.ts'

const modelSchema = z
  .object({
    table: z.string().min(1),
    /** Projection: the model's columns (default: all of the table's). */
    columns: z.array(z.string().min(1)).nonempty().optional(),
    /** Row filter, a SQL boolean expression PostgreSQL applies in the publication. */
    filter: z.string().min(1).optional(),
    /** Default: the table's primary key. */
    primaryKey: z.array(z.string().min(1)).nonempty().optional(),
  })
  .strict()

const syncName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,40}$/, 'a sync name has lower-case letters, digits and "_" (it names a replication slot)')

export const syncConfigSchema = z
  .object({
    name: syncName,
    model: modelSchema,
    triggers: triggersSchema,
    topic: topicConfigSchema,
    message: messageConfigSchema,
    ...keyPartitionHeadersSchema.shape,
    initialSync: z.enum(['backfill', 'skip']).default('skip'),
    onRowError: onRowErrorSchema,
    delivery: z.enum(['at-least-once', 'exactly-once']).default('at-least-once'),
    /** Overrides of the names rowcast_<name>. */
    slot: z.string().regex(/^[a-z0-9_]{1,63}$/).optional(),
    publication: z.string().min(1).max(63).optional(),
    /** Modules whose default (or `operator`) export is an RxJS OperatorFunction over message batches. */
    operators: z.array(z.string().min(1)).default([]),
  })
  .strict()

const postgresSchema = z
  .object({
    url: z.string().min(1),
    /** A tiny WAL message this often, so idle or fully filtered syncs still advance their slot. */
    heartbeatIntervalMs: z.number().int().positive().default(10_000),
    /** Standby status to PostgreSQL at least this often. */
    statusIntervalMs: z.number().int().positive().default(10_000),
  })
  .strict()

const limitsSchema = z
  .object({
    // The sink's own defaults, so the config and a library user's KafkaSink agree.
    maxInFlightMessages: z.number().int().positive().default(DEFAULT_SINK_LIMITS.maxInFlightMessages),
    maxInFlightBytes: z.number().int().positive().default(DEFAULT_SINK_LIMITS.maxInFlightBytes),
    maxRequestMessages: z.number().int().positive().default(DEFAULT_SINK_LIMITS.maxRequestMessages),
    maxRequestBytes: z.number().int().positive().default(DEFAULT_SINK_LIMITS.maxRequestBytes),
    maxMessageBytes: z.number().int().positive().default(DEFAULT_SINK_LIMITS.maxMessageBytes),
    maxBatchRows: z.number().int().positive().default(1_000),
    retryMaxMs: z.number().int().positive().default(DEFAULT_SINK_LIMITS.retryMaxMs),
  })
  .strict()

export function rootConfigSchema(baseDir: string) {
  return z
    .object({
      source: z.object({ postgres: postgresSchema }).strict(),
      destination: z
        .object({
          kafka: z.unknown().transform((value, ctx) => {
            const parsed = kafkaConfigSchema(baseDir).safeParse(value)
            if (parsed.success) return parsed.data
            for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: issue.path })
            return z.NEVER
          }),
          /** Compacted topic for exactly-once progress records. */
          progressTopic: z.string().min(1).default('rowcast-progress'),
          /** Confluent-compatible Schema Registry, required by syncs whose message.format is avro or json-schema. */
          schemaRegistry: schemaRegistryConfigSchema(baseDir).optional(),
        })
        .strict(),
      syncs: z.array(syncConfigSchema).nonempty(),
      limits: limitsSchema.default({}),
      http: httpConfigSchema.optional(),
      debugger: debuggerConfigSchema.default({}),
      alerts: alertsConfigSchema,
      alertThresholds: alertThresholdsSchema.default({}),
    })
    .strict()
    .superRefine((config, ctx) => {
      const seen = new Map<string, number>()
      config.syncs.forEach((sync, i) => {
        const first = seen.get(sync.name)
        if (first !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['syncs', i, 'name'], message: `sync name "${sync.name}" is already used by syncs[${first}]` })
        else seen.set(sync.name, i)
        checkMessageFormat(sync, i, config.destination.schemaRegistry !== undefined, baseDir, ctx)
        checkTriggerTopics(sync, i, ctx)
      })
    })
}

/** With one topic per trigger, every trigger the sync sends needs its topic (else each such row would be a row error). */
function checkTriggerTopics(sync: z.infer<typeof syncConfigSchema>, i: number, ctx: z.RefinementCtx): void {
  const topic = sync.topic
  if (typeof topic === 'string' || 'column' in topic) return
  const missing = sync.triggers.filter((trigger) => topic[trigger] === undefined)
  if (missing.length > 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['syncs', i, 'topic'], message: `no topic for the trigger${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: name one (topic.${missing[0]}: …) or leave ${missing.length > 1 ? 'them' : 'it'} out of triggers` })
  }
}

/** Schema-registry formats need a registry, and a schema file unless the schema can be derived from a mapping. */
function checkMessageFormat(sync: z.infer<typeof syncConfigSchema>, i: number, hasRegistry: boolean, baseDir: string, ctx: z.RefinementCtx): void {
  const { format, schema, mapping } = sync.message
  const at = (...path: string[]) => ['syncs', i, 'message', ...path]
  if (format === 'json') {
    if (schema !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: at('schema'), message: 'a schema file is only used with format avro or json-schema' })
    return
  }
  if (!hasRegistry) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['destination', 'schemaRegistry'], message: `required by syncs[${i}].message.format ${format}: add destination.schemaRegistry.url` })
  }
  if (schema === undefined && mapping === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: at('schema'), message: `format ${format} with a template or column message needs a schema file (rowcast derives a schema only from a mapping)` })
  }
  if (schema !== undefined && !existsSync(resolve(baseDir, schema))) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: at('schema'), message: `schema file ${resolve(baseDir, schema)} does not exist` })
  }
}

export type RowcastConfig = z.infer<ReturnType<typeof rootConfigSchema>>
export type SyncConfig = z.infer<typeof syncConfigSchema>

/** Reads, interpolates and validates a config file; throws ConfigError listing every problem with its path. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): RowcastConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    throw new ConfigError([{ path: file, message: `cannot read the config file: ${(error as Error).message}` }])
  }
  return parseConfig(text, dirname(resolve(file)), env)
}

export function parseConfig(text: string, baseDir: string, env: NodeJS.ProcessEnv = process.env): RowcastConfig {
  let raw: unknown
  try {
    raw = parseYaml(text)
  } catch (error) {
    throw new ConfigError([{ path: '(yaml)', message: (error as Error).message }])
  }
  const issues: ConfigIssue[] = []
  const interpolated = interpolate(raw, env, '', issues)
  const parsed = rootConfigSchema(baseDir).safeParse(interpolated)
  if (!parsed.success) issues.push(...parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })))
  if (issues.length > 0) throw new ConfigError(issues)
  return deepFreeze((parsed as { data: RowcastConfig }).data)
}

/** Keys whose interpolated values are secrets: scrubbed from every output from then on. */
const SECRET_KEY = /password|secret|token|credential|routingkey|url|smtp|key$/i

/** Replaces `${VAR}` in every string value (never in keys). */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: string, issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') {
    const secret = SECRET_KEY.test(path.replace(/\[\d+\]$/, '').split('.').pop() ?? '')
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_match, name: string) => {
      const resolved = env[name]
      if (resolved === undefined) {
        issues.push({ path: path || '(root)', message: `environment variable ${name} is not set` })
        return ''
      }
      if (secret) registerSecret(resolved)
      return resolved
    })
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, `${path}[${i}]`, issues))
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, path ? `${path}.${k}` : k, issues)]))
  }
  return value
}

export function formatPath(path: readonly (string | number)[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '') || '(root)'
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
