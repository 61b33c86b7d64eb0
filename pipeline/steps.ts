import { pipe, type OperatorFunction } from 'rxjs'
import { classify } from '../operators/classify.ts'
import { composeMessage } from '../operators/compose-message.ts'
import type { TopicEncoders } from '../core/contracts.ts'
import { encodeValue } from '../operators/encode-value.ts'
import { filterTriggers } from '../operators/filter-triggers.ts'
import { handleRowErrors, type RowErrorEvents } from '../operators/handle-row-errors.ts'
import { routeTopic, type ComposedMessage, type RoutedMessage } from '../operators/route-topic.ts'
import { setKeyPartitionHeaders } from '../operators/set-key-partition-headers.ts'
import type { Batch, ModelChange, OutgoingMessage, RejectedChange, SourceChange } from '../core/changes.ts'
import type { ResolvedSync } from './resolve-sync.ts'

/** The built-in steps of a sync, built once; compose them with your own operators in between. */
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

export type PipelineComposer = (steps: PipelineSteps) => OperatorFunction<Batch<SourceChange>, Batch<OutgoingMessage>>

export interface StepEvents extends RowErrorEvents {
  onUnchanged?: (count: number) => void
  onFiltered?: (count: number) => void
  /** The changes the triggers dropped; only given when someone shows them (the debugger). */
  onDropped?: (changes: readonly ModelChange[]) => void
}

export function buildSteps(resolved: ResolvedSync, events: StepEvents = {}, encoders: TopicEncoders | null = null): PipelineSteps {
  const { config } = resolved
  return {
    classify: classify(resolved.model, events.onUnchanged),
    filterTriggers: filterTriggers(config.triggers, events.onFiltered, events.onDropped),
    composeMessage: composeMessage(resolved.composer),
    routeTopic: routeTopic(config.topic),
    encodeValue: encodeValue(encoders),
    setKeyPartitionHeaders: setKeyPartitionHeaders(config),
    handleRowErrors: handleRowErrors(config.name, config.onRowError, events),
  }
}

/** The default order: classify → filterTriggers → composeMessage → routeTopic → encodeValue → setKeyPartitionHeaders → handleRowErrors. */
export const defaultPipeline: PipelineComposer = (s) =>
  pipe(s.classify, s.filterTriggers, s.composeMessage, s.routeTopic, s.encodeValue, s.setKeyPartitionHeaders, s.handleRowErrors)
