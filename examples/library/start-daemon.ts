/**
 * rowcast as a library (the README's "As a library" example; `npx tsc --noEmit` checks it): the daemon from a
 * config file, with your own RxJS operators at named points. The built-in steps always run, in their order:
 * classify → filterTriggers → composeMessage → routeTopic → encodeValue → setKeyPartitionHeaders → handleRowErrors.
 */
import { map } from 'rxjs'
import { isRejected, loadConfig, mapItems, startDaemon, type ComposedMessage, type InsertedOperator, type ModelChange, type RejectedChange } from 'rowcast'

// After filterTriggers: change the row, and the message is composed from the changed row.
const uppercaseNames: InsertedOperator<ModelChange> = map((batch) =>
  mapItems(batch, (change) => ({ ...change, row: { ...change.row, name: String(change.row.name).toUpperCase() } })),
)

// After composeMessage: the value is rendered (JSON text); routing, Schema Registry encoding and keys come after.
// A rejected change (a row error) passes on untouched, to the sync's onRowError policy.
const skipEmptyMessages: InsertedOperator<ComposedMessage | RejectedChange> = map((batch) =>
  mapItems(batch, (item) => (isRejected(item) || item.value !== '{}' ? item : undefined)),
)

const daemon = await startDaemon(loadConfig('rowcast.yaml'), {
  operators: { users: { afterFilterTriggers: [uppercaseNames], afterComposeMessage: [skipEmptyMessages] } },
})
process.once('SIGTERM', () => void daemon.stop())
