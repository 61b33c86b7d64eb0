/**
 * The root config schema, composed from the components' own schemas (each component owns its slice),
 * plus the checks that span several slices. `config/load-config.ts` reads, interpolates and validates a file with it.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { z } from 'zod'
import { resolveStreams } from './stream-mode.ts'
import { kafkaConfigSchema } from '../connectors/kafka/config.ts'
import { postgresUrlProblem } from '../connectors/postgres/url.ts'
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
import { httpConfigSchema } from '../observability/http-server.ts'
import { STEP_NAMES } from '../operators/step-names.ts'
import { secret, urlPassword } from '../core/secret-field.ts'

/**
 * A sync of logical messages instead of a table's rows: `pg_logical_emit_message(transactional, prefix, content)`
 * whose prefix starts with `prefix` (see operators/classify-messages.ts for the columns a message has).
 */
export const messagesModelSchema = z
  .object({
    /** Messages whose prefix starts with this are sent; rowcast's own (rowcast_…) never are. */
    prefix: z.string().min(1).refine((p) => !p.startsWith('rowcast_') && !'rowcast_'.startsWith(p), 'a prefix that starts with "rowcast_" (or could) would match rowcast\'s own heartbeat and snapshot messages'),
    /** Top-level fields of a JSON-object content, each a column of the message (for topic, key, partition, headers, mapping). */
    fields: z.array(z.string().min(1)).nonempty().optional(),
  })
  .strict()

export const modelSchema = z
  .object({
    table: z.string().min(1).optional(),
    /** Logical messages instead of a table (exclusive with `table` and the table's options). */
    messages: messagesModelSchema.optional(),
    /** Projection: the model's columns (default: all of the table's). */
    columns: z.array(z.string().min(1)).nonempty().optional(),
    /** Row filter, a SQL boolean expression PostgreSQL applies in the publication. */
    filter: z.string().min(1).optional(),
    /** Default: the table's primary key. */
    primaryKey: z.array(z.string().min(1)).nonempty().optional(),
    /**
     * An UPDATE that leaves a large (TOASTed) value unchanged, without REPLICA IDENTITY FULL: `reselect` reads the
     * value back from the table by key (its current value); `error` makes the change a row error (onRowError).
     */
    unchangedToast: z.enum(['reselect', 'error']).default('reselect'),
  })
  .strict()
  .superRefine((model, ctx) => {
    if ((model.table === undefined) === (model.messages === undefined)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'exactly one of table, messages must be set' })
    }
    if (model.messages === undefined) return
    for (const key of ['columns', 'filter', 'primaryKey'] as const) {
      if (model[key] !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [key], message: `${key} is an option of a table model, not of messages` })
    }
  })

export const syncName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,40}$/, 'a sync name has lower-case letters, digits and "_" (it names a replication slot)')

/**
 * A module whose default (or `operator`) export is an RxJS OperatorFunction over batches: `{ module, after: <step> }`
 * runs it right after a built-in step; a bare path runs it at the end, on the messages as they go to Kafka.
 */
export const operatorModuleSchema = z.preprocess(
  (item) => (typeof item === 'string' ? { module: item } : item),
  z.object({ module: z.string().min(1), after: z.enum(STEP_NAMES).default('handleRowErrors') }).strict(),
)

export const syncConfigSchema = z
  .object({
    name: syncName,
    model: modelSchema,
    triggers: triggersSchema,
    topic: topicConfigSchema,
    /** Required for a table; for messages, absent means the content as it was emitted. */
    message: messageConfigSchema.optional(),
    ...keyPartitionHeadersSchema.shape,
    initialSync: z.enum(['backfill', 'skip']).default('skip'),
    /** The snapshot of a backfill or resync, read in chunks beside the stream. */
    snapshot: z
      .object({
        chunkRows: z.number().int().min(1).max(1_000_000).default(2_000),
        /** A read time per chunk: each chunk's rows adapt toward it (within a tenth and ten times chunkRows). */
        chunkTimeMs: z.number().int().positive().optional(),
        /** Chunks read at once, each by its own connection (capped by the server's free connections). */
        parallelism: z.number().int().min(1).max(16).default(1),
        /** A ceiling on snapshot rows read per second, so a backfill never starves the live stream or the primary. */
        maxRowsPerSecond: z.number().positive().optional(),
      })
      .strict()
      .default({}),
    onRowError: onRowErrorSchema,
    /** A model column dropped, renamed or retyped while streaming: stop the sync (fail), or carry on with the new shape (follow). */
    schemaChanges: z.enum(['fail', 'follow']).default('fail'),
    delivery: z.enum(['at-least-once', 'exactly-once']).default('at-least-once'),
    /**
     * `shared`: the sync reads through its database's stream group (one slot and one walsender for every shared
     * sync, see source.postgres.streamGroup); `dedicated`: a replication slot and walsender of its own. Unset:
     * resolved by config/stream-mode.ts (DEFAULT_STREAM; dedicated where a shared stream cannot work).
     */
    stream: z.enum(['shared', 'dedicated']).optional(),
    /** Overrides of the names rowcast_<name>. */
    slot: z.string().regex(/^[a-z0-9_]{1,63}$/).optional(),
    publication: z.string().min(1).max(63).optional(),
    operators: z.array(operatorModuleSchema).default([]),
  })
  .strict()

export const postgresSchema = z
  .object({
    /** Its password is a secret (scrubbed from every output). */
    url: secret(
      z
        .string()
        .min(1)
        .superRefine((url, ctx) => {
          const problem = postgresUrlProblem(url)
          if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem })
        }),
      urlPassword,
    ),
    /** A tiny WAL message this often, so idle or fully filtered syncs still advance their slot. */
    heartbeatIntervalMs: z.number().int().positive().default(10_000),
    /** Standby status to PostgreSQL at least this often. */
    statusIntervalMs: z.number().int().positive().default(10_000),
    /**
     * A daemon that stops answering (frozen, hung host) loses its syncs' locks and slots after this long, so a
     * standby takes over: idle_session_timeout (PG 14+) on the lock session, pinged every third of it, and
     * wal_sender_timeout on the replication session. 0: no bound beyond TCP keepalives.
     */
    takeoverTimeoutMs: z.union([z.literal(0), z.number().int().min(3_000)]).default(30_000),
    /** How often the slot's health (lag and retained WAL from the server's view) is read, on an ordinary connection. */
    slotCheckIntervalMs: z.number().int().min(100).default(10_000),
    /**
     * Decoding on a standby (PostgreSQL 16+): `url` names the standby, this the primary, where rowcast keeps its
     * state, publication, lock and heartbeats. Absent: `url` is the primary.
     */
    primaryUrl: z
      .string()
      .min(1)
      .superRefine((url, ctx) => {
        const problem = postgresUrlProblem(url)
        if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem })
      })
      .optional(),
    /** pgoutput's origin filter (PostgreSQL 16+): `none` skips changes applied from another server (bidirectional setups). */
    origin: z.enum(['any', 'none']).default('any'),
    /** Slots created with failover = true on PostgreSQL 17+ (synced to standbys with sync_replication_slots); ignored before 17. */
    failoverSlots: z.boolean().default(true),
    /** The stream group of the syncs with `stream: shared`: one replication slot and one walsender for all of them. */
    streamGroup: z
      .object({
        /** The group's replication slot (and the name of its lock). */
        slot: z.string().regex(/^[a-z0-9_]{1,63}$/).default('rowcast_group'),
        /**
         * A sync that cannot deliver (its sink stays full: a missing topic, a broker refusing it) for this long is
         * parked: the group's other syncs go on, and the parked one catches up from its position once it delivers again.
         */
        parkAfterMs: z.number().int().min(100).default(30_000),
      })
      .strict()
      .default({}),
  })
  .strict()

export const limitsSchema = z
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

/**
 * `baseDir` is the config file's folder (files named in the config are read relative to it); `onSecret` hears
 * every secret value a component schema resolves (passwords, keys read inline or from a file).
 */
export function rootConfigSchema(baseDir: string, onSecret: (value: string) => void) {
  return z
    .object({
      source: z.object({ postgres: postgresSchema }).strict(),
      destination: z
        .object({
          kafka: z.unknown().transform((value, ctx) => {
            const parsed = kafkaConfigSchema(baseDir, onSecret).safeParse(value)
            if (parsed.success) return parsed.data
            for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: issue.path })
            return z.NEVER
          }),
          /** Compacted topic for exactly-once progress records. */
          progressTopic: z.string().min(1).default('rowcast-progress'),
          /**
           * Exactly-once: this deployment's namespace, in its progress keys and transactional ids, so deployments
           * with the same sync names on one Kafka cluster (a database per tenant, staging and production) stay apart.
           */
          exactlyOnce: z.object({ namespace: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only').max(100) }).strict().optional(),
          /** Confluent-compatible Schema Registry, required by syncs whose message.format is avro or json-schema. */
          schemaRegistry: schemaRegistryConfigSchema(baseDir, onSecret).optional(),
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
        checkMessagesSync(sync, i, ctx)
      })
      checkSharedStreams(config.syncs, config.source.postgres.primaryUrl !== undefined, ctx)
    })
    .transform((config) => ({ ...config, syncs: resolveStreams(config.syncs, config.source.postgres.primaryUrl !== undefined) }))
}

/**
 * Syncs sharing a stream read one replication stream naming all their publications, and PostgreSQL sends a
 * table's rows if any of them selects them: syncs of one table must then agree on its row filter.
 */
export function checkSharedStreams(syncs: readonly z.infer<typeof syncConfigSchema>[], onStandby: boolean, ctx: z.RefinementCtx): void {
  const byTable = new Map<string, number>()
  syncs.forEach((sync, i) => {
    if (sync.stream !== 'shared') return
    if (onStandby) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['syncs', i, 'stream'], message: 'stream: shared is not supported when decoding on a standby (source.postgres.primaryUrl): use stream: dedicated' })
    if (sync.slot !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['syncs', i, 'slot'], message: 'a sync with stream: shared reads the stream group\'s slot (source.postgres.streamGroup.slot): leave slot out, or use stream: dedicated' })
    const table = sync.model.table
    if (table === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['syncs', i, 'stream'], message: 'a sync of logical messages (model.messages) reads a stream of its own: use stream: dedicated' })
      return
    }
    const first = byTable.get(table)
    if (first === undefined) byTable.set(table, i)
    else if ((syncs[first]?.model.filter ?? null) !== (sync.model.filter ?? null)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['syncs', i, 'model', 'filter'], message: `syncs[${first}] reads ${table} through the same stream group with another row filter; PostgreSQL would send each the rows of either filter: use the same filter, or stream: dedicated for one of them` })
    }
  })
}

/** With one topic per trigger, every trigger the sync sends needs its topic (else each such row would be a row error). */
export function checkTriggerTopics(sync: z.infer<typeof syncConfigSchema>, i: number, ctx: z.RefinementCtx): void {
  const topic = sync.topic
  if (typeof topic === 'string' || 'column' in topic) return
  const missing = sync.triggers.filter((trigger) => topic[trigger] === undefined)
  if (missing.length > 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['syncs', i, 'topic'], message: `no topic for the trigger${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: name one (topic.${missing[0]}: …) or leave ${missing.length > 1 ? 'them' : 'it'} out of triggers` })
  }
}

/** A table sync needs its message; a messages sync has no rows to back-fill and only `added` messages. */
export function checkMessagesSync(sync: z.infer<typeof syncConfigSchema>, i: number, ctx: z.RefinementCtx): void {
  const issue = (path: string[], message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['syncs', i, ...path], message })
  if (sync.model.messages === undefined) {
    if (sync.message === undefined) issue(['message'], 'required: a template, column or mapping')
    return
  }
  if (sync.initialSync === 'backfill') issue(['initialSync'], 'logical messages cannot be back-filled (they are not kept anywhere): use skip')
  if (sync.message !== undefined && sync.message.format !== 'json') issue(['message', 'format'], 'a messages sync sends json only')
}

/** Schema-registry formats need a registry, and a schema file unless the schema can be derived from a mapping. */
export function checkMessageFormat(sync: z.infer<typeof syncConfigSchema>, i: number, hasRegistry: boolean, baseDir: string, ctx: z.RefinementCtx): void {
  if (sync.message === undefined) return
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
export type OperatorModule = z.infer<typeof operatorModuleSchema>
