/**
 * Every error code rowcast reports: stable (documented, safe to alert on), with whether retrying the same
 * work can succeed and what the user can do about it. `retriable: 'varies'` codes decide per case (an HTTP
 * status, a Kafka protocol error's own flag) and must say so where they are raised.
 */
export interface ErrorCodeInfo {
  retriable: boolean | 'varies'
  /** What to do about it, shown by `rowcast check` and in the README. */
  hint: string
}

export const ERROR_CODES = {
  // The config file and its checks against the database.
  CONFIG_INVALID: { retriable: false, hint: 'fix the config at the path named; `rowcast validate` lists every problem' },

  // PostgreSQL (connectors/postgres).
  PG_UNREACHABLE: { retriable: true, hint: 'check source.postgres.url, the network, and pg_hba.conf' },
  PG_CONNECTION_LOST: { retriable: true, hint: 'rowcast reconnects by itself; check the server if it keeps happening' },
  PG_REPLICATION_LOST: { retriable: true, hint: 'rowcast reconnects and resumes from the slot\'s confirmed position' },
  PG_REPLICATION_FAILED: { retriable: true, hint: 'check that the role has REPLICATION and that max_wal_senders is not exhausted' },
  PG_SLOT_ACTIVE: { retriable: true, hint: 'another process reads this slot; stop it, or wait for the other rowcast to let go' },
  PG_SLOT_MISSING: { retriable: true, hint: 'the replication slot vanished while streaming: the next attempt checks the sync\'s recorded stream and stops with PG_SLOT_LOST' },
  PG_SLOT_LOST: { retriable: false, hint: 'the sync\'s slot vanished, was invalidated, or the database is another one: changes since the position named are lost. `rowcast resync --sync NAME` re-sends the model; `rowcast resync --sync NAME --accept-gap` records the loss and goes on from a new slot' },
  PG_SCHEMA_CHANGED: { retriable: false, hint: 'a model column of the table was dropped, renamed or changed type while streaming: set schemaChanges: follow on the sync to carry on with the new shape, or change the config to the new columns; `rowcast resync --sync NAME` re-sends the model as it is now' },
  PG_RESELECT_FAILED: { retriable: true, hint: 'rowcast could not read unchanged large values back from the table (model.unchangedToast: reselect); check the role may SELECT it, or set REPLICA IDENTITY FULL' },
  PG_PUBLICATION_FAILED: { retriable: false, hint: 'check the model (table, columns, filter) and that the role may create publications' },
  PG_DECODE_FAILED: { retriable: false, hint: 'a replication message could not be decoded (the error names its LSN, table and type); the sync alone stops and is retried from its confirmed position after a minute, with the table\'s column types read again. If it persists, report it with the message' },
  PG_BACKFILL_FAILED: { retriable: true, hint: 'the backfill restarts by itself; check the server if it keeps happening' },
  PG_BACKFILL_QUERY_FAILED: { retriable: false, hint: 'the model\'s query failed on the table: check model.columns and model.filter' },

  // Kafka (connectors/kafka).
  KAFKA_AUTH_FAILED: { retriable: false, hint: 'check the username/password/mechanism in destination.kafka.auth (and that this listener uses SASL)' },
  KAFKA_AWS_CREDENTIALS_MISSING: { retriable: false, hint: 'give AWS credentials (destination.kafka.auth keys, AWS_* variables or a shared credentials file)' },
  KAFKA_NOT_AUTHORIZED: { retriable: false, hint: 'grant the user ACLs for the topics (Describe, Write) and cluster (Describe)' },
  KAFKA_TLS_UNTRUSTED: { retriable: false, hint: 'set destination.kafka.tls.ca to the CA certificate that signed the brokers\' certificates' },
  KAFKA_TLS_HOSTNAME: { retriable: false, hint: 'connect with the host name the certificate was issued for, or set destination.kafka.tls.servername to it' },
  KAFKA_UNREACHABLE: { retriable: true, hint: 'check destination.kafka.brokers (host:port), firewalls, and whether tls must be on or off for this listener' },
  KAFKA_TOPIC_MISSING: { retriable: true, hint: 'create the topic (rowcast never creates topics) or fix the topic name' },
  KAFKA_PARTITION_MISSING: { retriable: false, hint: 'add partitions to the topic or fix the partition rule' },
  KAFKA_MESSAGE_TOO_LARGE: { retriable: false, hint: 'make the message smaller or raise max.message.bytes on the topic' },
  KAFKA_PRODUCER_FENCED: { retriable: true, hint: 'the producer\'s epoch went stale (a broker restart, a transaction timeout): the sync starts again with a new producer. If it keeps happening, another process uses the same transactional id (destination.exactlyOnce.namespace)' },
  KAFKA_COORDINATOR_UNAVAILABLE: { retriable: true, hint: 'Kafka has no group/transaction coordinator yet (brokers starting or moving partitions): rowcast retries; check the brokers and __transaction_state if it persists' },
  KAFKA_TRANSACTION_FAILED: { retriable: true, hint: 'exactly-once: the sync restarts from the progress committed to Kafka' },
  KAFKA_PROGRESS_FOREIGN: { retriable: false, hint: 'the progress record under this key was written for another source: give each deployment its own destination.exactlyOnce.namespace' },
  KAFKA_PROGRESS_TIMEOUT: { retriable: true, hint: 'exactly-once: the progress topic could not be read to its end; check the brokers' },
  KAFKA_ERROR: { retriable: 'varies', hint: 'see the Kafka error named in the message' },

  // Schema Registry (connectors/kafka/schema-registry).
  REGISTRY_UNAVAILABLE: { retriable: true, hint: 'check destination.schemaRegistry.url and that the registry is up' },
  REGISTRY_UNAUTHORIZED: { retriable: false, hint: 'check destination.schemaRegistry.auth' },
  REGISTRY_TLS_UNTRUSTED: { retriable: false, hint: 'set destination.schemaRegistry.ca to the CA that signed the registry\'s certificate' },
  REGISTRY_ERROR: { retriable: false, hint: 'see the registry\'s answer in the message' },
  REGISTRY_NOT_READY: { retriable: false, hint: 'a programming error: an encoder was used before its schema was registered' },
  SCHEMA_INVALID: { retriable: false, hint: 'fix the schema file (or the mapping the schema is derived from)' },
  SCHEMA_INCOMPATIBLE: { retriable: false, hint: 'make the schema compatible with the subject\'s earlier versions, or change the subject\'s compatibility' },
  SCHEMA_NOT_REGISTERED: { retriable: false, hint: 'register the schema, or set destination.schemaRegistry.autoRegister: true' },

  // Row errors: one change cannot become a message; handled by the sync's onRowError.
  ROW_RENDER_FAILED: { retriable: false, hint: 'fix the template, or set onRowError to skip or deadLetter' },
  ROW_INVALID_JSON: { retriable: false, hint: 'the message is not valid JSON: fix the template or the column\'s content' },
  ROW_SCHEMA_MISMATCH: { retriable: false, hint: 'the row does not fit the sync\'s Avro / JSON Schema' },
  ROW_TOPIC_MISSING: { retriable: false, hint: 'the topic column is empty for this row' },
  ROW_TOPIC_INVALID: { retriable: false, hint: 'the topic column holds a name Kafka cannot accept' },
  ROW_PARTITION_MISSING: { retriable: false, hint: 'the partition does not exist in the topic: add partitions or fix the partition column' },
  ROW_MESSAGE_TOO_LARGE: { retriable: false, hint: 'the message is over limits.maxMessageBytes or its topic\'s max.message.bytes: make it smaller or raise the limit (and the topic\'s max.message.bytes)' },
  ROW_VALUE_UNAVAILABLE: { retriable: false, hint: 'PostgreSQL did not resend an unchanged large value: set REPLICA IDENTITY FULL on the table' },
  ROW_ERROR: { retriable: false, hint: 'see the error in the message' },

  // The pipeline (pipeline/).
  PIPELINE_ORDER_BROKEN: { retriable: false, hint: 'a custom operator reordered, dropped or split batches: make it pass every batch on, in order (concatMap, not mergeMap)' },

  // Alerts (observability/alerts).
  ALERT_DELIVERY_FAILED: { retriable: 'varies', hint: 'check the alert channel\'s URL, key or SMTP settings' },

  // Anything else: a bug, never retried.
  INTERNAL_API_MISSING: { retriable: false, hint: 'a dependency (pg-logical-replication) or Node.js moved an internal rowcast relies on: use the versions in rowcast\'s package-lock.json and a supported Node.js' },
  INTERNAL: { retriable: false, hint: 'a bug in rowcast: please report it with the log line' },
} as const satisfies Record<string, ErrorCodeInfo>

export type ErrorCode = keyof typeof ERROR_CODES

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code)
}
