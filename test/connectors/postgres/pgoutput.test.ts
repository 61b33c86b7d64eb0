import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { isDeepStrictEqual } from 'node:util'
import pg from 'pg'
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication'
import { UNCHANGED_TOAST } from '../../../core/changes.ts'
import type { Row } from '../../../core/changes.ts'
import { describeTable } from '../../../connectors/postgres/catalog.ts'
import { PgoutputDecoder, type PgoutputMessage } from '../../../connectors/postgres/pgoutput.ts'
import { parserForColumn, type ValueParser } from '../../../connectors/postgres/values.ts'
import { RelationShapes } from '../../../connectors/postgres/relation-shape.ts'
import type { ColumnInfo } from '../../../core/changes.ts'
import { sql, stack, uniqueName } from '../../support/harness.ts'
import type { StackEnv } from '../../../scripts/stack-env.ts'

/**
 * rowcast's pgoutput decoder against pg-logical-replication's parser (given rowcast's value parsers), on
 * the same raw stream from a real PostgreSQL: every type the end-to-end test covers, NULLs, multi-byte
 * text, TOASTed values (unchanged ones included), REPLICA IDENTITY FULL and DEFAULT, key changes, deletes,
 * TRUNCATE and logical messages.
 */
const COLUMNS = `id int8 PRIMARY KEY, name text, age int4, small int2, big int8, price numeric, ratio float8, ok bool,
  doc jsonb, raw bytea, tags text[], nums int4[], at timestamptz, local timestamp, day date, uid uuid, big_text text`

let env: StackEnv
let full: string
let plain: string
let slot: string
let raw: Buffer[] = []

before(async () => {
  env = await stack()
  full = uniqueName('pgo_full')
  plain = uniqueName('pgo_default')
  slot = uniqueName('pgo_slot')
  await sql(env, `CREATE TABLE ${full} (${COLUMNS}); ALTER TABLE ${full} REPLICA IDENTITY FULL; CREATE TABLE ${plain} (${COLUMNS});
    CREATE PUBLICATION ${slot} FOR TABLE ${full}, ${plain}`)
  await sql(env, `SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput')`)
  const toast = `(SELECT string_agg(md5(i::text || 'x'), '') FROM generate_series(1, 400) i)` // ~12 kB, incompressible enough to be stored out of line
  for (const table of [full, plain]) {
    await sql(env, `INSERT INTO ${table} VALUES
      (1, 'Zoë "quoted" \\ back', 42, -7, 9007199254740993, 12345.678901234567890, 1.5, true, '{"a": [1, {"b": "ü"}], "n": null}', '\\x00ff10', ARRAY['a', NULL, 'c,d'], ARRAY[1, 2], '2024-01-02 03:04:05.123456+02', '2024-01-02 03:04:05.5', '2024-02-29', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', ${toast}),
      (2, NULL, NULL, NULL, NULL, 'NaN', 'Infinity', false, 'null', NULL, '{}', NULL, NULL, NULL, NULL, NULL, NULL),
      (3, '🦀 emoji', 0, 0, -1, -0.0001, -0.5, NULL, '[]', '', ARRAY[]::text[], ARRAY[NULL]::int4[], '-infinity', 'infinity', '0001-01-01', NULL, 'short')`)
    await sql(env, `UPDATE ${table} SET age = age + 1 WHERE id = 1`) // the TOASTed value unchanged: 'u' without FULL
    await sql(env, `UPDATE ${table} SET big_text = 'now short', doc = '{"c": 1}' WHERE id = 1`)
    await sql(env, `UPDATE ${table} SET id = 10 WHERE id = 3`) // a key change
    await sql(env, `UPDATE ${table} SET name = name WHERE id = 2`) // nothing changes
    await sql(env, `DELETE FROM ${table} WHERE id = 2`)
  }
  await sql(env, `BEGIN; SELECT pg_logical_emit_message(true, 'rowcast_test', 'hello'); INSERT INTO ${full} (id) VALUES (99); COMMIT`)
  await sql(env, `TRUNCATE ${full}, ${plain}`)
  await sql(env, `INSERT INTO ${plain} (id, name) VALUES (100, 'last')`)
  raw = await readRaw(env, slot, 'last')
})

after(async () => {
  await sql(env, `SELECT pg_drop_replication_slot('${slot}') FROM pg_replication_slots WHERE slot_name = '${slot}'`).catch(() => undefined)
  await sql(env, `DROP PUBLICATION IF EXISTS ${slot}; DROP TABLE IF EXISTS ${full}, ${plain}`).catch(() => undefined)
})

/** The slot's XLogData payloads as PostgreSQL sent them, up to the commit after a row containing `marker`. */
async function readRaw(env: StackEnv, slot: string, marker: string): Promise<Buffer[]> {
  const service = new LogicalReplicationService({ connectionString: env.ROWCAST_PG_URL }, { acknowledge: { auto: false, timeoutSeconds: 0 } })
  const buffers: Buffer[] = []
  const recorder = new PgoutputPlugin({ protoVersion: 1, publicationNames: [slot], messages: true })
  return new Promise<Buffer[]>((resolve, reject) => {
    let sawMarker = false
    recorder.parse = (buffer: Buffer) => {
      buffers.push(Buffer.from(buffer))
      if (buffer.includes(marker)) sawMarker = true
      if (sawMarker && buffer[0] === 0x43) setImmediate(() => void service.destroy().then(() => resolve(buffers)))
      return { tag: 'raw' } as unknown as Pgoutput.Message
    }
    service.subscribe(recorder, slot).catch((error: unknown) => (sawMarker ? undefined : reject(error as Error)))
    setTimeout(() => reject(new Error(`no commit after "${marker}" within 20 s; got ${buffers.length} messages`)), 20_000).unref()
  })
}

async function columnsOf(table: string): Promise<ColumnInfo[]> {
  const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
  await client.connect()
  try {
    return (await describeTable(client, table))!.columns
  } finally {
    await client.end()
  }
}

/** The decoder of a sync whose model is `columns` (projected when not all the table's), failing on schema changes. */
function decoderFor(columns: ColumnInfo[], all: readonly ColumnInfo[] = columns): PgoutputDecoder {
  const shapes = new RelationShapes({ model: columns, streamed: all.map((c) => c.name), projected: columns.length < all.length, policy: 'fail', required: [], fixedSchema: false })
  return new PgoutputDecoder({ publication: slot, shapes })
}

async function parsersFor(table: string): Promise<Map<string, ValueParser>> {
  const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
  await client.connect()
  try {
    const info = await describeTable(client, table)
    return new Map(info!.columns.map((c) => [c.name, parserForColumn(c)]))
  } finally {
    await client.end()
  }
}

/** The library's row as rowcast's decoder should give it: a plain object; a 'u' without the old row → the marker. */
function expectedRow(row: Row | null, newOfUpdate = false): Row | null {
  if (row === null) return null
  const out: Row = {}
  for (const [k, v] of Object.entries(row)) out[k] = v === undefined && newOfUpdate ? UNCHANGED_TOAST : v
  return out
}

test('decodes the stream exactly as pg-logical-replication does (with rowcast value parsers)', async () => {
  const parsers = await parsersFor(full) // both tables have the same columns
  const decoder = decoderFor(await columnsOf(full))
  const library = new PgoutputPlugin({ protoVersion: 1, publicationNames: [slot], messages: true })
  const seen = new Map<string, number>()
  let unchangedToast = 0
  let unchangedUpdates = 0
  for (const buffer of raw) {
    const theirs = library.parse(buffer) as Pgoutput.Message
    if (theirs.tag === 'relation') for (const c of theirs.columns) c.parser = parsers.get(c.name)!
    const ours: PgoutputMessage = decoder.parse(buffer)
    seen.set(theirs.tag, (seen.get(theirs.tag) ?? 0) + 1)
    switch (theirs.tag) {
      case 'begin':
        assert.deepEqual(ours, { tag: 'begin', commitLsn: lsn(theirs.commitLsn), commitTime: Number((theirs.commitTime as bigint) / 1000n), xid: theirs.xid })
        break
      case 'commit':
        assert.deepEqual(ours, { tag: 'commit', commitEndLsn: lsn(theirs.commitEndLsn) })
        break
      case 'relation':
        assert.equal(ours.tag, 'relation')
        if (ours.tag === 'relation') assert.deepEqual([ours.relation.qualified, ours.relation.keyColumns], [`${theirs.schema}.${theirs.name}`, theirs.keyColumns])
        break
      case 'insert':
        assert.ok(ours.tag === 'insert')
        assert.deepEqual(ours.new, expectedRow(theirs.new))
        assert.equal(ours.modelShaped, true)
        break
      case 'update': {
        assert.ok(ours.tag === 'update')
        assert.equal(ours.unchanged, theirs.old !== null && isDeepStrictEqual({ ...theirs.old }, { ...theirs.new }), 'unchanged: no model column changed')
        if (ours.unchanged) unchangedUpdates++
        assert.equal(ours.modelShaped, theirs.key === null, 'model-shaped unless only the key came')
        assert.deepEqual(ours.old, expectedRow(theirs.old))
        assert.deepEqual(ours.key, theirs.key === null ? null : { ...theirs.key })
        assert.deepEqual(ours.new, expectedRow(theirs.new, theirs.old === null))
        unchangedToast += Object.values(ours.new).filter((v) => v === UNCHANGED_TOAST).length
        if (ours.old !== null && ours.new.id === ours.old.id) {
          assert.equal(ours.new.doc === ours.old.doc, JSON.stringify(ours.new.doc) === JSON.stringify(ours.old.doc), 'an unchanged jsonb value is the old value itself')
        }
        break
      }
      case 'delete':
        assert.ok(ours.tag === 'delete')
        assert.deepEqual([ours.old, ours.key], [expectedRow(theirs.old), theirs.key === null ? null : { ...theirs.key }])
        assert.equal(ours.modelShaped, theirs.old !== null)
        break
      case 'truncate':
        assert.ok(ours.tag === 'truncate')
        assert.deepEqual(ours.relations.map((r) => r.qualified).sort(), theirs.relations.map((r) => `${r.schema}.${r.name}`).sort())
        break
      default:
        assert.equal(ours.tag, 'other', theirs.tag)
    }
  }
  assert.ok((seen.get('relation') ?? 0) >= 2, 'a relation message per table (PostgreSQL may resend them)')
  assert.deepEqual(Object.fromEntries([...seen].filter(([tag]) => !['begin', 'commit', 'relation'].includes(tag))), { insert: 8, update: 8, delete: 2, truncate: 1, message: 1 })
  assert.equal(unchangedToast, 1, "one UPDATE without the old row left the TOASTed value out: it is marked, not undefined")
  assert.equal(unchangedUpdates, 1, 'SET name = name under REPLICA IDENTITY FULL changes nothing')
})

test('columns without a parser (outside the model) are skipped unread', async () => {
  const all = await columnsOf(full)
  const decoder = decoderFor(all.filter((c) => c.name === 'id' || c.name === 'name'), all)
  const inserts = raw.map((b) => decoder.parse(b)).filter((m) => m.tag === 'insert')
  assert.deepEqual(inserts[0]?.tag === 'insert' ? inserts[0].new : null, { id: 1, name: 'Zoë "quoted" \\ back' })
})

test('a malformed stream is an error that says what is wrong', () => {
  const decoder = decoderFor([])
  assert.throws(() => decoder.parse(Buffer.from('Zxyz')), /unknown pgoutput message 'Z'/)
  const insert = Buffer.alloc(12)
  insert.write('I', 0)
  insert.writeUInt32BE(4242, 1)
  assert.throws(() => decoder.parse(insert), /relation 4242 before its relation message/)
})

function lsn(text: string | null): bigint {
  if (text === null) return 0n
  const [high, low] = text.split('/')
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`)
}
