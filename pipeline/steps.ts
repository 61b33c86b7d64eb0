import { identity, type Observable, type OperatorFunction } from 'rxjs'
import { classify } from '../operators/classify.ts'
import { classifyMessages } from '../operators/classify-messages.ts'
import { composeMessage } from '../operators/compose-message.ts'
import type { TopicEncoders } from '../core/contracts.ts'
import { encodeValue } from '../operators/encode-value.ts'
import { filterTriggers } from '../operators/filter-triggers.ts'
import { handleRowErrors, type RowErrorEvents } from '../operators/handle-row-errors.ts'
import { routeTopic, type ComposedMessage, type RoutedMessage } from '../operators/route-topic.ts'
import { setKeyPartitionHeaders } from '../operators/set-key-partition-headers.ts'
import type { Batch, ModelChange, OutgoingMessage, RejectedChange, SourceChange } from '../core/changes.ts'
import { STEP_NAMES, type StepName } from '../operators/step-names.ts'
import type { ResolvedSync } from './resolve-sync.ts'

export { STEP_NAMES, type StepName }

/** The built-in steps of a sync, built once. */
export interface PipelineSteps {
  classify: OperatorFunction<Batch<SourceChange>, Batch<ModelChange>>
  filterTriggers: OperatorFunction<Batch<ModelChange>, Batch<ModelChange>>
  composeMessage: OperatorFunction<Batch<ModelChange>, Batch<ComposedMessage | RejectedChange>>
  routeTopic: OperatorFunction<Batch<ComposedMessage | RejectedChange>, Batch<RoutedMessage | RejectedChange>>
  /** Schema Registry wire format (message.format avro | json-schema); a no-op for json. */
  encodeValue: OperatorFunction<Batch<RoutedMessage | RejectedChange>, Batch<RoutedMessage | RejectedChange>>
  setKeyPartitionHeaders: OperatorFunction<Batch<RoutedMessage | RejectedChange>, Batch<OutgoingMessage | RejectedChange>>
  handleRowErrors: OperatorFunction<Batch<OutgoingMessage | RejectedChange>, Batch<OutgoingMessage>>
}

/** An operator inserted where batches of `T` flow: it takes and gives the same shape, so the next step still fits. */
export type InsertedOperator<T> = OperatorFunction<Batch<T>, Batch<T>>

/**
 * Custom operators by the point they run at, each typed by what flows there. The built-in steps always run;
 * these only go between them, in the order given. A rejected change (a row error) is on its way to the
 * sync's onRowError policy: pass it on unchanged.
 */
export interface OperatorInsertions {
  /** Row changes of the model (added / changed / removed), before the triggers filter them. */
  afterClassify?: readonly InsertedOperator<ModelChange>[]
  /** The changes the sync sends, before their message is composed: change `row` here to change the message. */
  afterFilterTriggers?: readonly InsertedOperator<ModelChange>[]
  /** Composed message values, before the topic is chosen. */
  afterComposeMessage?: readonly InsertedOperator<ComposedMessage | RejectedChange>[]
  /** Routed messages, before Schema Registry encoding (for format avro | json-schema the value is still JSON text). */
  afterRouteTopic?: readonly InsertedOperator<RoutedMessage | RejectedChange>[]
  /** Routed messages with their final value (Schema Registry wire format when configured). */
  afterEncodeValue?: readonly InsertedOperator<RoutedMessage | RejectedChange>[]
  /** Messages with key, partition and headers, before row errors are handled. */
  afterSetKeyPartitionHeaders?: readonly InsertedOperator<OutgoingMessage | RejectedChange>[]
  /** The end: the messages as they go to Kafka (where a config file's `operators:` run by default). */
  afterHandleRowErrors?: readonly InsertedOperator<OutgoingMessage>[]
}

export type InsertionPoint = keyof OperatorInsertions

/** `composeMessage` → `afterComposeMessage`. */
export function insertionPoint(step: StepName): InsertionPoint {
  return `after${step[0].toUpperCase()}${step.slice(1)}` as InsertionPoint
}

/** Every insertion point, in the order batches pass them. */
export const INSERTION_POINTS: readonly InsertionPoint[] = STEP_NAMES.map(insertionPoint)

export interface StepEvents extends RowErrorEvents {
  onUnchanged?: (count: number) => void
  onFiltered?: (count: number) => void
  /** The changes the triggers dropped; only given when someone shows them (the debugger). */
  onDropped?: (changes: readonly ModelChange[]) => void
  /** A schema registration is under way (true) or done (false): the source is paused meanwhile. */
  onRegistering?: (waiting: boolean) => void
}

export function buildSteps(resolved: ResolvedSync, events: StepEvents = {}, encoders: TopicEncoders | null = null): PipelineSteps {
  const { config } = resolved
  return {
    classify: resolved.messages === null ? classify(resolved.model, events.onUnchanged) : classifyMessages(resolved.messages),
    filterTriggers: filterTriggers(config.triggers, events.onFiltered, events.onDropped),
    composeMessage: composeMessage(resolved.composer),
    routeTopic: routeTopic(config.topic),
    encodeValue: encodeValue(encoders, events.onRegistering),
    setKeyPartitionHeaders: setKeyPartitionHeaders(config),
    handleRowErrors: handleRowErrors(config.name, config.onRowError, events),
  }
}

/**
 * The whole chain: classify → filterTriggers → composeMessage → routeTopic → encodeValue →
 * setKeyPartitionHeaders → handleRowErrors, each step followed by the operators inserted after it.
 */
export function composeSteps(s: PipelineSteps, o: OperatorInsertions = {}): OperatorFunction<Batch<SourceChange>, Batch<OutgoingMessage>> {
  return (changes$: Observable<Batch<SourceChange>>) =>
    changes$
      .pipe(s.classify, chain(o.afterClassify), s.filterTriggers, chain(o.afterFilterTriggers))
      .pipe(s.composeMessage, chain(o.afterComposeMessage), s.routeTopic, chain(o.afterRouteTopic), s.encodeValue, chain(o.afterEncodeValue))
      .pipe(s.setKeyPartitionHeaders, chain(o.afterSetKeyPartitionHeaders), s.handleRowErrors, chain(o.afterHandleRowErrors))
}

/** Both sets at each point, `first`'s operators before `second`'s. */
export function mergeInsertions(first: OperatorInsertions, second: OperatorInsertions): OperatorInsertions {
  const out: Record<string, readonly unknown[]> = {}
  for (const point of INSERTION_POINTS) {
    const operators = [...(first[point] ?? []), ...(second[point] ?? [])]
    if (operators.length > 0) out[point] = operators
  }
  return out as OperatorInsertions
}

// With nothing inserted a point costs nothing: `identity` hands the same observable on.
function chain<T>(operators: readonly OperatorFunction<T, T>[] = []): OperatorFunction<T, T> {
  if (operators.length === 0) return identity
  return (source) => operators.reduce((out, operator) => operator(out), source)
}
