import { map } from 'rxjs'
import { mapItems, type InsertedOperator, type ModelChange } from 'rowcast'

/**
 * A custom operator that runs between two built-in steps: named in the config as
 * `operators: [{ module: ./uppercase-emails.ts, after: filterTriggers }]`, it sees the model's row changes
 * before their message is composed, so the message carries the upper-cased email.
 * Its type says where it fits: after classify or filterTriggers, batches of ModelChange flow.
 */
const operator: InsertedOperator<ModelChange> = map((batch) =>
  mapItems(batch, (change) => (typeof change.row.email === 'string' ? { ...change, row: { ...change.row, email: change.row.email.toUpperCase() } } : change)),
)

export default operator
