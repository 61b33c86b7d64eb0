import { map, type OperatorFunction } from 'rxjs'
import { z } from 'zod'
import { isRejected, mapItems, type Batch, type OutgoingMessage, type RejectedChange } from '../core/changes.ts'
import { RowcastError, errorMessage } from '../core/errors.ts'
import { parseLsn } from '../core/lsn.ts'
import type { Row } from '../core/changes.ts'
import { jsonValue } from './message/json-text.ts'

/** `fail` (default) | `skip` | `{ deadLetter: { topic } }` */
export const onRowErrorSchema = z
  .union([z.literal('fail'), z.literal('skip'), z.object({ deadLetter: z.object({ topic: z.string().min(1) }).strict() }).strict()])
  .default('fail')
export type OnRowError = z.infer<typeof onRowErrorSchema>

export interface RowErrorEvents {
  onSkipped?: (rejected: RejectedChange) => void
  onDeadLettered?: (rejected: RejectedChange) => void
}

/**
 * Applies the sync's onRowError policy to rows that could not become messages:
 * fail -> the stream errors before that row's transaction is confirmed; skip -> dropped (counted);
 * deadLetter -> a message with the original row and the error goes to the dead-letter topic.
 */
export function handleRowErrors(sync: string, policy: OnRowError, events: RowErrorEvents = {}): OperatorFunction<Batch<OutgoingMessage | RejectedChange>, Batch<OutgoingMessage>> {
  const resolve = rowErrorResolver(sync, policy, events)
  return map((batch) => mapItems(batch, (item) => (isRejected(item) ? resolve(item) : item)))
}

/** The policy as a function, shared with the sink (which finds some row errors only against the cluster). */
export function rowErrorResolver(sync: string, policy: OnRowError, events: RowErrorEvents = {}): (rejected: RejectedChange) => OutgoingMessage | undefined {
  return (rejected) => {
    if (policy === 'fail') throw rowFailure(sync, rejected)
    if (policy === 'skip') {
      events.onSkipped?.(rejected)
      return undefined
    }
    events.onDeadLettered?.(rejected)
    return deadLetterMessage(sync, policy.deadLetter.topic, rejected)
  }
}

export function rowFailure(sync: string, rejected: RejectedChange): RowcastError {
  const code = rejected.error instanceof RowcastError ? rejected.error.code : 'ROW_ERROR'
  const { change } = rejected
  const message = `sync "${sync}": row ${change.key ?? '(no key)'} of ${change.table} (${change.type}, lsn ${change.lsn}): ${errorMessage(rejected.error)}`
  return new RowcastError(code, message, { cause: rejected.error, ...positionOf(change.lsn) })
}

/** A snapshot row has no stream position (its lsn is 0/0): its failure has none either. */
function positionOf(lsn: string): { position?: bigint } {
  try {
    const position = parseLsn(lsn)
    return position > 0n ? { position } : {}
  } catch {
    return {}
  }
}

function deadLetterMessage(sync: string, topic: string, rejected: RejectedChange): OutgoingMessage {
  const { change } = rejected
  const error = errorMessage(rejected.error)
  const head = JSON.stringify({
    sync,
    table: change.table,
    type: change.type,
    key: change.key,
    lsn: change.lsn,
    reason: rejected.reason,
    code: rejected.error instanceof RowcastError ? rejected.error.code : 'ROW_ERROR',
    error,
  })
  const failedAt = new Date().toISOString()
  const fields = head.slice(0, -1) // the object so far, without its closing brace
  // The rows are written value by value, so json/jsonb keep their exact text (JSON.stringify would parse them).
  const value = `${fields},"row":${rowJson(change.row)},"previous":${rowJson(change.previous)},"failedAt":"${failedAt}"}`
  return {
    change,
    value,
    topic,
    key: change.key,
    partition: null,
    headers: { 'rowcast-sync': sync, 'rowcast-error-reason': rejected.reason },
    deadLetter: { reason: rejected.reason, error, withoutRow: (note) => `${fields},"row":null,"previous":null,"omitted":${JSON.stringify(note)},"failedAt":"${failedAt}"}` },
  }
}

function rowJson(row: Row | null): string {
  if (row === null) return 'null'
  let out = ''
  for (const name of Object.keys(row)) {
    const value = row[name]
    if (value === undefined || typeof value === 'symbol' || typeof value === 'function') continue // left out, as JSON.stringify does (an unresent TOAST value)
    out += `${out === '' ? '{' : ','}${JSON.stringify(name)}:${jsonValue(value)}`
  }
  return out === '' ? '{}' : `${out}}`
}
