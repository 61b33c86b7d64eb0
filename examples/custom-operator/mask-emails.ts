import { map } from 'rxjs'
import { mapItems, type InsertedOperator, type OutgoingMessage } from 'rowcast'

/**
 * A custom RxJS operator for rowcast: adds a header saying which trigger produced each message, and
 * drops messages of rows whose email ends in "@example.test". Name this file under a sync's
 * `operators:` in the config (it runs at the end, on the messages as they go to Kafka), or give it to
 * the library as `operators: { <sync>: { afterHandleRowErrors: [operator] } }`.
 * Operators map the items of a batch and must keep the batch itself: it carries the commit position.
 */
const operator: InsertedOperator<OutgoingMessage> = map((batch) =>
  mapItems(batch, (message) => {
    const email = message.change.row.email
    if (typeof email === 'string' && email.endsWith('@example.test')) return undefined
    return { ...message, headers: { ...message.headers, 'rowcast-trigger': message.change.type } }
  }),
)

export default operator
