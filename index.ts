/**
 * rowcast as a library: start the daemon from a config, with your own RxJS operators at named points between
 * the built-in steps (see examples/library, examples/custom-operator and the README).
 */
export { loadConfig, parseConfig } from './config/load-config.ts'
export type { RowcastConfig, SyncConfig } from './config/root-schema.ts'
export { startDaemon, type Daemon, type DaemonOptions } from './daemon/daemon.ts'
export type { ConfigDiff } from './daemon/config-diff.ts'
export { STEP_NAMES, INSERTION_POINTS, type StepName, type InsertionPoint, type OperatorInsertions, type InsertedOperator } from './pipeline/steps.ts'
export type { ComposedMessage, RoutedMessage } from './operators/route-topic.ts'
export { secretsOf, registerSecrets, redactSecrets } from './core/secrets.ts'
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
export { JsonText } from './core/json-text.ts'
