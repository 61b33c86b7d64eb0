/**
 * The benchmark's data: a table shaped like the seed's model (id, full_name, age, email_address, phone_number,
 * plan, ...), the catch-up workload (inserts, updates, deletes in transactions of mixed sizes, written
 * server-side so the writer is never the bottleneck), a backfill table, and a steady-rate writer.
 */
import pg from 'pg'

/** Transaction sizes, cycled: many small transactions and a few large ones. */
export const TRANSACTION_SIZES = [1, 5, 25, 100, 400, 2000] as const
export const TOPIC_COUNT = 8

export interface WorkloadShape {
  inserts: number
  updates: number
  deletes: number
}

/** 40 % inserts, 50 % updates, 10 % deletes of `changes`. */
export function workloadShape(changes: number): WorkloadShape {
  const inserts = Math.round(changes * 0.4)
  const deletes = Math.round(changes * 0.1)
  return { inserts, updates: changes - inserts - deletes, deletes }
}

export async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, options: '-c TimeZone=UTC' })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

/** The model table. REPLICA IDENTITY FULL, as `rowcast setup` recommends (deletes carry the whole row). */
export async function createTable(client: pg.ClientBase, table: string): Promise<void> {
  await client.query(`CREATE TABLE ${table} (
    id int8 PRIMARY KEY,
    full_name text NOT NULL,
    age int4,
    email_address text,
    phone_number text,
    plan text,
    topic_name text NOT NULL,
    payload jsonb NOT NULL,
    updated_at timestamptz NOT NULL)`)
  await client.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`)
}

/** SQL for the row of id `i` (an SQL expression), as every insert of the benchmark writes it. */
function rowSelect(i: string, topicPrefix: string, plan = `(ARRAY['free','pro','team','enterprise'])[1 + ${i} % 4]`): string {
  const name = `'User ' || ${i}`
  const age = `20 + (${i} % 50)::int`
  const email = `'user' || ${i} || '@example.com'`
  const phone = `CASE WHEN ${i} % 5 = 0 THEN NULL ELSE '+1415' || lpad((${i} % 10000000)::text, 7, '0') END`
  return `SELECT ${i}, ${name}, ${age}, ${email}, ${phone}, ${plan}, '${topicPrefix}_' || (${i} % ${TOPIC_COUNT}),
    jsonb_build_object('id', ${i}, 'name', ${name}, 'age', ${age}, 'contact_info', jsonb_build_array(
      jsonb_build_object('type', 'email', 'value', ${email}), jsonb_build_object('type', 'phone', 'value', ${phone}))),
    clock_timestamp()`
}

const UPDATE_SET = `full_name = 'User ' || id || ' v' || (age + 1), age = age + 1,
  payload = jsonb_set(payload, '{age}', to_jsonb(age + 1)), updated_at = clock_timestamp()`

/**
 * Writes the catch-up workload in one server-side DO block that commits after each transaction:
 * inserts of ids 1..inserts, updates over the ids in order (wrapping), deletes of the highest ids.
 * Returns the number of transactions.
 */
export async function writeWorkload(client: pg.ClientBase, table: string, shape: WorkloadShape, topicPrefix: string): Promise<number> {
  const sizes = `ARRAY[${TRANSACTION_SIZES.join(',')}]`
  const result = await client.query(`
DO $$
DECLARE
  sizes int[] := ${sizes};
  k int := 0;
  n int;
  pos bigint;
  lim bigint;
  done bigint;
BEGIN
  pos := 1;
  WHILE pos <= ${shape.inserts} LOOP
    n := sizes[1 + k % array_length(sizes, 1)]; k := k + 1;
    lim := least(pos + n - 1, ${shape.inserts});
    INSERT INTO ${table} ${rowSelect('i', topicPrefix)} FROM generate_series(pos, lim) AS i;
    COMMIT;
    pos := lim + 1;
  END LOOP;
  done := 0;
  WHILE done < ${shape.updates} LOOP
    n := sizes[1 + k % array_length(sizes, 1)]; k := k + 1;
    pos := 1 + done % ${shape.inserts};
    lim := least(pos + n - 1, ${shape.inserts}, pos + ${shape.updates} - done - 1);
    UPDATE ${table} SET ${UPDATE_SET} WHERE id BETWEEN pos AND lim;
    COMMIT;
    done := done + (lim - pos + 1);
  END LOOP;
  pos := ${shape.inserts - shape.deletes + 1};
  WHILE pos <= ${shape.inserts} LOOP
    n := sizes[1 + k % array_length(sizes, 1)]; k := k + 1;
    lim := least(pos + n - 1, ${shape.inserts});
    DELETE FROM ${table} WHERE id BETWEEN pos AND lim;
    COMMIT;
    pos := lim + 1;
  END LOOP;
  RAISE NOTICE 'transactions=%', k;
END $$`)
  void result
  return countTransactions(shape)
}

/** The number of transactions writeWorkload commits (same arithmetic, client-side). */
export function countTransactions(shape: WorkloadShape): number {
  let k = 0
  const next = () => TRANSACTION_SIZES[k++ % TRANSACTION_SIZES.length]
  for (let pos = 1; pos <= shape.inserts; ) pos += next()
  for (let done = 0; done < shape.updates; ) {
    const pos = 1 + (done % shape.inserts)
    done += Math.min(next(), shape.inserts - pos + 1, shape.updates - done)
  }
  for (let pos = shape.inserts - shape.deletes + 1; pos <= shape.inserts; ) pos += next()
  return k
}

/** Fills a table with `rows` rows in one statement (the backfill's input). */
export async function fillTable(client: pg.ClientBase, table: string, rows: number, topicPrefix: string): Promise<void> {
  await client.query(`INSERT INTO ${table} ${rowSelect('i', topicPrefix)} FROM generate_series(1, ${rows}) AS i`)
  await client.query(`ANALYZE ${table}`)
}

/** Creates a publication and a pgoutput slot before the workload, so a reader started later sees all of it. */
export async function createPublicationAndSlot(client: pg.ClientBase, table: string, name: string): Promise<void> {
  await client.query(`CREATE PUBLICATION ${name} FOR TABLE ${table} WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`)
  await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [name])
}

export async function dropPublicationAndSlot(client: pg.ClientBase, name: string): Promise<void> {
  await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [name]).catch(() => undefined)
  await client.query(`DROP PUBLICATION IF EXISTS ${name}`).catch(() => undefined)
}

export interface SteadyWriteResult {
  changes: number
  transactions: number
  seconds: number
  /** Per transaction sequence number: the time (ms since the epoch) its COMMIT returned. */
  commitTimes: Map<number, number>
}

/**
 * Writes at a steady `rate` changes/s for `seconds` (or until `stop()`), new rows from id `firstId` on: every 10 ms one transaction with the changes due
 * (alternating inserts of new rows and updates of existing ones). Each row's `plan` is `tx<seq>`, so a
 * consumer can match a message with its transaction's commit time.
 */
export async function writeSteadily(client: pg.ClientBase, table: string, topicPrefix: string, rate: number, seconds: number, options: { firstId?: number; stop?: () => boolean } = {}): Promise<SteadyWriteResult> {
  const commitTimes = new Map<number, number>()
  const start = performance.now()
  const firstId = options.firstId ?? 1
  let written = 0
  let nextId = firstId
  let updateFrom = firstId
  let seq = 0
  for (;;) {
    const elapsed = (performance.now() - start) / 1000
    if (elapsed >= seconds || options.stop?.() === true) break
    const due = Math.min(Math.floor(rate * elapsed) - written, 2_000)
    if (due <= 0) {
      await new Promise((r) => setTimeout(r, 5))
      continue
    }
    seq++
    const plan = `'tx${seq}'`
    if (seq % 2 === 1 || nextId - firstId < due) {
      await client.query(`INSERT INTO ${table} ${rowSelect('i', topicPrefix, plan)} FROM generate_series(${nextId}, ${nextId + due - 1}) AS i`)
      nextId += due
    } else {
      if (updateFrom + due - 1 >= nextId) updateFrom = firstId
      await client.query(`UPDATE ${table} SET ${UPDATE_SET}, plan = ${plan} WHERE id BETWEEN ${updateFrom} AND ${updateFrom + due - 1}`)
      updateFrom += due
    }
    commitTimes.set(seq, Date.now())
    written += due
    await new Promise((r) => setTimeout(r, 10))
  }
  return { changes: written, transactions: seq, seconds: (performance.now() - start) / 1000, commitTimes }
}
