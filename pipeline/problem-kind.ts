import { RowcastError } from '../core/errors.ts'
import type { ProblemKind } from '../core/telemetry.ts'

/**
 * The alert kind of a sync's failure, by its error code: what a person has to look at. Retriable errors
 * make the sync `degraded` (alerted after a threshold), the others `failed`. undefined: retried without an
 * alert of its own (a slot held by another reader, a slot that vanished mid-stream and is checked next attempt).
 */
export function problemKindOf(error: unknown): ProblemKind | undefined {
  if (!(error instanceof RowcastError)) return 'fatal'
  if (error.code === 'PG_SLOT_LOST') return 'slot-lost'
  if (!error.retriable) return 'fatal'
  if (error.code === 'KAFKA_TOPIC_MISSING') return 'topic-missing'
  if (error.code.startsWith('REGISTRY_')) return 'registry-unreachable'
  if (error.code.startsWith('KAFKA_')) return 'kafka-unreachable'
  if (error.code === 'PG_SLOT_ACTIVE' || error.code === 'PG_SLOT_MISSING') return undefined
  if (error.code.startsWith('PG_')) return 'postgres-unreachable'
  return undefined
}
