import type { MessageSink, SourceIdentity } from '../core/contracts.ts'
import type { Logger } from '../core/logger.ts'
import type { SyncConfig } from '../config/root-schema.ts'
import type { KafkaClient } from '../connectors/kafka/client.ts'
import { openKafkaSink, type SinkLimits } from '../connectors/kafka/sink.ts'
import type { SchemaRegistryConfig } from '../connectors/kafka/schema-registry/config.ts'
import { PostgresSource } from '../connectors/postgres/source.ts'
import type { StreamGroup } from '../connectors/postgres/stream-group.ts'
import type { ReselectSpec } from '../connectors/postgres/reselect-toast.ts'
import { rowErrorResolver } from '../operators/handle-row-errors.ts'
import type { AttemptEdges } from './attempt.ts'
import type { DeliveryRecords } from './delivery-records.ts'
import { resolveSync, type ResolvedSync } from './resolve-sync.ts'
import { resolveMessagesSync } from './resolve-messages-sync.ts'
import { buildSteps, composeSteps, INSERTION_POINTS, insertionPoint, type OperatorInsertions } from './steps.ts'
import { prepareValueEncoders } from './value-encoders.ts'

export interface SyncEdgesOptions {
  sync: SyncConfig
  /** The sync's position in `syncs`, for error paths. */
  index: number
  postgres: { url: string; primaryUrl?: string; origin?: 'any' | 'none'; heartbeatIntervalMs: number; statusIntervalMs: number; failoverSlots?: boolean; takeoverTimeoutMs?: number; streamGroup?: { slot: string } }
  kafka: KafkaClient
  limits: SinkLimits & { maxBatchRows: number }
  progressTopic: string
  /** `destination.exactlyOnce.namespace`: in progress keys and transactional ids. */
  namespace?: string
  /** `destination.schemaRegistry`, for message.format avro | json-schema. */
  schemaRegistry?: SchemaRegistryConfig
  /** The config file's folder (relative `message.schema` paths). */
  baseDir: string
  /** Custom operators at their insertion points (the library's and the config file's `operators:`). */
  operators?: OperatorInsertions
  records: DeliveryRecords
  logger: Logger
  /** The stream group of the daemon's `stream: shared` syncs (this sync's, when it is one of them). */
  group?: StreamGroup
}

/** Snapshot rows passed into the steps at once: short enough that a live batch is not held up by their composition. */
const SNAPSHOT_SLICE_ROWS = 500

/**
 * The daemon's edges of a sync: PostgreSQL in (the source coordinator, the model checked against the
 * catalog, the steps built once per attempt), Kafka out (the sink with the sync's row-error policy).
 */
export function syncEdges(options: SyncEdgesOptions): AttemptEdges {
  const { sync, index, postgres, limits, records, logger } = options
  const resolveRowError = rowErrorResolver(sync.name, sync.onRowError, rowErrorEvents(records))
  let identity: SourceIdentity | null = null // of the attempt's source, opened before its sink
  let opened: PostgresSource | null = null
  return {
    async openSource(signal, hooks) {
      const source = await PostgresSource.connect({
        url: postgres.url,
        sync: sync.name,
        initialSync: sync.initialSync,
        heartbeatIntervalMs: postgres.heartbeatIntervalMs,
        statusIntervalMs: postgres.statusIntervalMs,
        failoverSlots: postgres.failoverSlots ?? true,
        ...(postgres.primaryUrl === undefined ? {} : { primaryUrl: postgres.primaryUrl }),
        ...(postgres.origin === undefined ? {} : { origin: postgres.origin }),
        ...(postgres.streamGroup === undefined ? {} : { groupSlot: postgres.streamGroup.slot }),
        ...(postgres.takeoverTimeoutMs === undefined ? {} : { takeoverTimeoutMs: postgres.takeoverTimeoutMs }),
        maxBatchRows: limits.maxBatchRows,
        chunkRows: sync.snapshot.chunkRows,
        snapshotParallelism: sync.snapshot.parallelism,
        ...(sync.snapshot.chunkTimeMs === undefined ? {} : { chunkTimeMs: sync.snapshot.chunkTimeMs }),
        ...(sync.snapshot.maxRowsPerSecond === undefined ? {} : { maxSnapshotRowsPerSecond: sync.snapshot.maxRowsPerSecond }),
        // A snapshot chunk goes to Kafka in slices, each while less than a quarter of a request is in flight: a
        // live change waits for that, not for whole chunks (and never for the in-flight bound's pause); half a
        // request kept the rate ~10 % higher and live p99 over 100 ms in the snapshot bench. Exactly-once keeps a
        // chunk within its watermark's transaction.
        ...(sync.delivery === 'exactly-once' ? {} : { snapshotSlices: { rows: SNAPSHOT_SLICE_ROWS, maxInFlightMessages: Math.min(limits.maxRequestMessages, limits.maxInFlightMessages / 2) / 4 } }),
        ...(sync.stream === 'shared' && options.group !== undefined ? { group: options.group } : {}),
        logger,
        events: {
          ...hooks,
          onTruncate: (tables) => records.truncated(tables),
          onSnapshotProgress: (done, total, chunkRows) => records.snapshotProgress(done, total, chunkRows),
          onParked: (parked, position) => records.parked(options.group?.slot ?? '', parked, position),
        },
      }, signal)
      if (source === null) return null
      try {
        const resolved = sync.model.table === undefined ? resolveMessagesSync(sync, index) : resolveSync(await source.describeTable(sync.model.table), sync, index)
        for (const warning of resolved.warnings) logger.warn(warning)
        const encoders = await prepareValueEncoders(resolved, { registry: options.schemaRegistry, baseDir: options.baseDir, index, logger })
        identity = null
        opened = null
        await source.prepare({ slot: resolved.slot, publication: resolved.publication, table: resolved.table.name, shape: resolved.shape, snapshotColumns: resolved.table.columns, keyColumns: resolved.model.keyColumns, filter: sync.model.filter ?? null, reselect: reselectSpec(resolved), ...(resolved.messages === null ? {} : { messagePrefix: resolved.messages.prefix }) })
        identity = source.identity
        opened = source
        const steps = buildSteps(resolved, {
          onUnchanged: (count) => records.filtered(count, 'unchanged'),
          onFiltered: (count) => records.filtered(count, 'trigger'),
          onRegistering: (waiting) => hooks.hold('registry', waiting),
          ...(records.wantsRecords ? { onDropped: (changes) => records.filteredOut(changes) } : {}),
          ...rowErrorEvents(records),
        }, encoders)
        return { source, steps: composeSteps(steps, options.operators), customOperators: describeOperators(sync, options.operators) }
      } catch (error) {
        await source.close()
        throw error
      }
    },
    async openSink(events): Promise<MessageSink> {
      const sink = await openKafkaSink({
        kafka: options.kafka,
        limits,
        logger,
        events: {
          ...events,
          rowError: (rejected) => {
            try {
              return resolveRowError(rejected)
            } catch (error) {
              records.rejected(rejected, 'rejected')
              throw error
            }
          },
        },
        ...(sync.delivery === 'exactly-once' ? { exactlyOnce: exactlyOnceOf(sync.name, options.progressTopic, options.namespace, identity) } : {}),
      })
      // Exactly-once: a pending snapshot resumes after the last row committed to Kafka, not the last chunk recorded.
      opened?.resumeSnapshotAt(sink.resumedSnapshot)
      return sink
    },
  }
}

/** Progress key and transactional id: the sync's name, within the deployment's namespace when it has one (without: as before). */
function exactlyOnceOf(sync: string, progressTopic: string, namespace: string | undefined, source: SourceIdentity | null) {
  return {
    transactionalId: namespace === undefined ? `rowcast-${sync}` : `rowcast-${namespace}-${sync}`,
    progressTopic,
    progressKey: namespace === undefined ? sync : `${namespace}/${sync}`,
    ...(source === null ? {} : { source }),
  }
}

/** The sync's custom operators by name, for errors: the library's (by function name) then the config's modules, at each point. */
function describeOperators(sync: SyncConfig, insertions: OperatorInsertions = {}): string[] {
  return INSERTION_POINTS.flatMap((point) => {
    const all: readonly { name: string }[] = insertions[point] ?? []
    const modules = sync.operators.filter((o) => insertionPoint(o.after) === point)
    const library = all.slice(0, Math.max(0, all.length - modules.length)).map((fn) => `${fn.name === '' ? 'an anonymous operator' : fn.name} (library option ${point})`)
    return [...library, ...modules.map((o) => `${o.module} (after ${o.after})`)]
  })
}

function rowErrorEvents(records: DeliveryRecords) {
  return {
    onSkipped: (rejected: Parameters<DeliveryRecords['rejected']>[0]) => records.rejected(rejected, 'skipped'),
    onDeadLettered: (rejected: Parameters<DeliveryRecords['rejected']>[0]) => records.rejected(rejected, 'dead-lettered'),
  }
}

/** Unchanged large values are read back from the table unless the identity sends the old row or the sync says `error`. */
function reselectSpec(resolved: ResolvedSync): ReselectSpec | null {
  if (resolved.messages !== null || resolved.table.replicaIdentity === 'full' || resolved.config.model.unchangedToast !== 'reselect') return null
  if (!resolved.columns.some((c) => c.toastable === true)) return null
  return { table: resolved.table.name, columns: resolved.columns, keyColumns: resolved.model.keyColumns }
}
