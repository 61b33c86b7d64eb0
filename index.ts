/**
 * rowcast as a library: start the daemon from a config, or build a sync's pipeline from its steps and put
 * your own RxJS operators between them (see examples/custom-operator and the README).
 */
export { loadConfig, parseConfig, type RowcastConfig, type SyncConfig } from './config/load-config.ts'
export { startDaemon, type Daemon, type DaemonOptions } from './daemon/daemon.ts'
export { buildSteps, defaultPipeline, type PipelineSteps, type PipelineComposer } from './pipeline/steps.ts'
export { mapItems, isRejected, type Batch, type SourceChange, type ModelChange, type OutgoingMessage, type RejectedChange } from './core/changes.ts'
export { Telemetry, type TelemetryEvents, type DeliveryRecord } from './core/telemetry.ts'
export { RowcastError, ConfigError } from './core/errors.ts'
export { createLogger } from './core/logger.ts'
export { classify } from './operators/classify.ts'
export { filterTriggers } from './operators/filter-triggers.ts'
export { composeMessage, compileComposer } from './operators/compose-message.ts'
export { routeTopic } from './operators/route-topic.ts'
export { setKeyPartitionHeaders } from './operators/set-key-partition-headers.ts'
export { handleRowErrors } from './operators/handle-row-errors.ts'
export type { Row, ColumnInfo, ChangeType } from './core/changes.ts'
