import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'
import { ConfigError } from '../../core/errors.ts'
import { describeTable } from '../../connectors/postgres/catalog.ts'
import { resolveSync } from '../../pipeline/resolve-sync.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, uniqueName, type Received } from '../support/harness.ts'
import { caughtUp, memoryLogger, record, recordedSlot, sleep, finish } from '../support/sync-helpers.ts'
import { SEED_MAPPING_MESSAGE, SEED_TEMPLATE, SEED_TEMPLATE_MESSAGE } from '../support/seed-examples.ts'

/** Sync semantics on the real stack: what a message says, and which row changes of the model become one. */


/** Values that break naive JSON building (PostgreSQL text cannot hold U+0000, so no NUL here). */
const HOSTILE = ['quote " inside', 'back\\slash', 'trailing \\', 'new\nline\r\n', 'tab\there', 'emoji 🎉👩‍👩‍👧 ünïcödé 中文', 'seps \u2028 \u2029', '"},{"injected": true', '{{ row.id }} {% if %}', '</script>', '', null]

const indent = (text: string, spaces: number) => text.split('\n').map((line) => ' '.repeat(spaces) + line).join('\n')

describe('sync semantics: messages', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('template, mapping and column messages: the seed examples, and hostile values stay valid JSON end to end', async () => {
    const table = uniqueName('msg')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, full_name text, age int, email_address text, phone_number text,
      first_name text, last_name text, email text, note text, tags text[], payload jsonb NOT NULL, payload_text text NOT NULL)`)
    const syncs = {
      seed: `
    message:
      template: |
${indent(SEED_TEMPLATE, 8)}`,
      alice: `
    message: { mapping: { customer_first_name: first_name, customer_last_name: last_name, customer_email: email } }`,
      fast: `
    message: { template: '{"id": {{row.id}}, "quoted": "<{{row.note}}>", "bare": {{row.note}}, "tags": {{row.tags}}, "type": "{{event.type}}"}' }`,
      liquid: `
    message: { template: '{% if row.id %}{"id": {{row.id}}, "quoted": "<{{row.note}}>", "bare": {{row.note}}, "tags": {{row.tags}}, "type": "{{event.type}}"}{% endif %}' }`,
      jsonb: `
    message: { column: payload }`,
      text: `
    message: { column: payload_text }`,
    }
    const name = (mode: string) => `${table}_${mode}`
    await createTopics(env, Object.keys(syncs).map(name), 1)
    const config = configFor(env, Object.entries(syncs).map(([mode, message]) => `
  - name: ${name(mode)}
    model: { table: public.${table} }
    topic: ${name(mode)}${message}`).join(''))
    const daemon = await runDaemon(config)
    const consumer = await consume(env, Object.keys(syncs).map(name))
    try {
      await streaming(daemon)
      const insert = `INSERT INTO ${table} (id, full_name, age, email_address, phone_number, first_name, last_name, email, note, tags, payload, payload_text)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
      await sql(env, insert, [1, 'John Doe', 30, 'john@example.com', '+14158675309', 'Alice', 'Doe', 'alice.doe@example.com', 'plain', ['a'], '{"n": 1}', '{"n": 1}'])
      for (const [i, note] of HOSTILE.entries()) {
        const payload = JSON.stringify({ note, nested: [note, { deeper: note }] })
        await sql(env, insert, [100 + i, note, null, note, null, note, null, null, note, note === null ? null : [note, null], payload, payload])
      }
      const count = 1 + HOSTILE.length
      await consumer.waitFor(count * Object.keys(syncs).length)
      const on = (mode: string): unknown[] => consumer.messages.filter((m: Received) => m.topic === name(mode)).map((m) => JSON.parse(m.value))
      for (const mode of Object.keys(syncs)) assert.equal(on(mode).length, count, `${mode}: one valid JSON message per row`)

      assert.deepEqual(on('seed')[0], SEED_TEMPLATE_MESSAGE, 'the seed\'s Liquid template gives the seed\'s JSON')
      assert.deepEqual(on('alice')[0], SEED_MAPPING_MESSAGE, 'the seed\'s mapping gives the seed\'s JSON')

      for (const [i, note] of HOSTILE.entries()) {
        const tags = note === null ? null : [note, null]
        const expected = { id: 100 + i, quoted: `<${note ?? ''}>`, bare: note, tags, type: 'added' }
        assert.deepEqual(on('fast')[i + 1], expected, `template (fast path), note ${JSON.stringify(note)}`)
        assert.deepEqual(on('liquid')[i + 1], expected, `template (liquidjs), note ${JSON.stringify(note)}`)
        assert.deepEqual(on('alice')[i + 1], { customer_first_name: note, customer_last_name: null, customer_email: null }, `mapping, note ${JSON.stringify(note)}`)
        const payload = { note, nested: [note, { deeper: note }] }
        assert.deepEqual(on('jsonb')[i + 1], payload, `jsonb column, note ${JSON.stringify(note)}`)
        assert.deepEqual(on('text')[i + 1], payload, `text column, note ${JSON.stringify(note)}`)
        const seed = on('seed')[i + 1] as Record<string, unknown>
        assert.equal(seed.name, note ?? '', `seed template with a hostile name, ${JSON.stringify(note)}`)
        assert.equal(seed.age, null)
      }
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})

describe('sync semantics: the model decides what changed', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  const summary = (messages: Received[]) => messages.map((m) => { const v = JSON.parse(m.value); return `${v.type}:${v.id}:${v.status}` })

  test('row filter: an UPDATE entering the filter is added, one leaving it is removed (REPLICA IDENTITY FULL, filter on a non-key column)', async () => {
    const table = uniqueName('filter')
    const topic = table
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, status text NOT NULL, name text)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await createTopics(env, [topic], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table}, filter: "status = 'active'" }
    topic: ${topic}
    message: { template: '{"type": "{{event.type}}", "id": {{row.id}}, "status": "{{row.status}}"}' }`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [topic])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'active', 'a'), (2, 'inactive', 'b')`)
      await sql(env, `UPDATE ${table} SET status = 'active' WHERE id = 2`) // enters
      await sql(env, `UPDATE ${table} SET status = 'inactive' WHERE id = 1`) // leaves
      await sql(env, `UPDATE ${table} SET name = 'b2' WHERE id = 2`) // stays in
      await sql(env, `UPDATE ${table} SET name = 'a2' WHERE id = 1`) // stays out
      await sql(env, `DELETE FROM ${table} WHERE id = 1`) // out: nothing
      await sql(env, `DELETE FROM ${table} WHERE id = 2`) // in: removed
      const expected = ['added:1:active', 'added:2:active', 'removed:1:active', 'changed:2:active', 'removed:2:active']
      await consumer.waitFor(expected.length)
      await caughtUp(env, [table])
      await sleep(500)
      assert.deepEqual(summary(consumer.messages), expected)
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('a row filter on a non-identity column of a DEFAULT-identity table is a clear start-up error naming the column', async () => {
    const table = uniqueName('badfilter')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, region text)`)
    const syncYaml = `
  - name: ${table}
    model: { table: public.${table}, filter: "region = 'eu' AND id > 0" }
    topic: ${table}
    message: { mapping: { id: id } }`
    const config = configFor(env, syncYaml)

    const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await client.connect()
    try {
      const table = await describeTable(client, config.syncs[0].model.table ?? '')
      assert.throws(() => resolveSync(table, config.syncs[0], 0), (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.deepEqual(error.issues.map((i) => i.path), ['syncs[0].model.filter'])
        assert.match(error.issues[0].message, /"region"/)
        assert.doesNotMatch(error.issues[0].message, /"id"/, 'the key column is in the identity: not blamed')
        assert.match(error.issues[0].message, /REPLICA IDENTITY FULL/)
        return true
      })
    } finally {
      await client.end()
    }

    const daemon = await runDaemon(config)
    const states = record(daemon, 'state')
    try {
      const failed = await eventually(() => states.filter((s) => s.state === 'failed'), (f) => f.length > 0, 20_000, 'a failed state')
      assert.equal(failed[0].kind, 'fatal')
      assert.match(failed[0].reason ?? '', /syncs\[0\]\.model\.filter: .*"region"/)
      const slots = await sql(env, 'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [`rowcast_${table}`])
      assert.equal(slots.rowCount, 0, 'no slot is created for a sync that cannot run')
      assert.equal(await recordedSlot(env, table), null, 'nor does it join its stream group')
    } finally {
      await finish(env, daemon)
    }
    void parseConfig
  })

  test('projection: an UPDATE touching only columns outside the model sends nothing; one touching a model column is changed', async () => {
    const table = uniqueName('proj')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, status text, secret text, updated_at timestamptz)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    await createTopics(env, [table], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table}, columns: [id, status] }
    topic: ${table}
    message: { template: '{"type": "{{event.type}}", "id": {{row.id}}, "status": "{{row.status}}", "was": "{{previous.status}}"}' }`)
    const daemon = await runDaemon(config)
    const filtered = record(daemon, 'filtered')
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'new', 's1', now())`)
      await sql(env, `UPDATE ${table} SET secret = 's2', updated_at = now() WHERE id = 1`) // outside the model
      await sql(env, `UPDATE ${table} SET status = 'new' WHERE id = 1`) // a model column, same value: not a change
      await sql(env, `UPDATE ${table} SET status = 'paid', secret = 's3' WHERE id = 1`) // a model column
      await consumer.waitFor(2)
      await caughtUp(env, [table])
      await sleep(500)
      assert.deepEqual(consumer.messages.map((m) => JSON.parse(m.value)), [
        { type: 'added', id: 1, status: 'new', was: '' },
        { type: 'changed', id: 1, status: 'paid', was: 'new' },
      ])
      assert.equal(filtered.filter((f) => f.reason === 'unchanged').reduce((n, f) => n + f.count, 0), 2)
      assert.ok(!consumer.messages.some((m) => m.value.includes('s1') || m.value.includes('secret')), 'columns outside the model never leave')
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('an UPDATE of the primary key is removed (old key) + added (new key), under DEFAULT and FULL identity', async () => {
    const base = uniqueName('rekey')
    const tables = [`${base}_d`, `${base}_f`]
    for (const table of tables) {
      await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`)
      await createTopics(env, [table], 1)
    }
    await sql(env, `ALTER TABLE ${tables[1]} REPLICA IDENTITY FULL`)
    const config = configFor(env, tables.map((table) => `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: { template: '{"type": "{{event.type}}", "id": {{row.id}}, "name": "{{row.name}}"}' }`).join(''))
    const daemon = await runDaemon(config)
    const consumer = await consume(env, tables)
    try {
      await streaming(daemon)
      for (const table of tables) {
        await sql(env, `INSERT INTO ${table} VALUES (1, 'a')`)
        await sql(env, `UPDATE ${table} SET id = 5 WHERE id = 1`)
        await sql(env, `UPDATE ${table} SET name = 'b' WHERE id = 5`)
      }
      await consumer.waitFor(8)
      await caughtUp(env, tables)
      await sleep(500)
      const on = (table: string) => consumer.messages.filter((m) => m.topic === table).map((m) => { const v = JSON.parse(m.value); return `${m.key}:${v.type}:${v.id}:${v.name}` })
      assert.deepEqual(on(tables[0]), ['1:added:1:a', '1:removed:1:', '5:added:5:a', '5:changed:5:b'], 'DEFAULT identity: the old key only')
      assert.deepEqual(on(tables[1]), ['1:added:1:a', '1:removed:1:a', '5:added:5:a', '5:changed:5:b'], 'FULL identity: the whole old row')
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('TRUNCATE is logged and counted, and emits no messages; the stream goes on', async () => {
    const table = uniqueName('trunc')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`)
    await createTopics(env, [table], 1)
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    message: { template: '{"type": "{{event.type}}", "id": {{row.id}}}' }`)
    const { logger, lines } = memoryLogger()
    const daemon = await runDaemon(config, { logger })
    const truncated = record(daemon, 'truncated')
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a'), (2, 'b')`)
      await consumer.waitFor(2)
      await sql(env, `TRUNCATE ${table}`)
      await sql(env, `INSERT INTO ${table} VALUES (3, 'c')`)
      await consumer.waitFor(3)
      await caughtUp(env, [table])
      await sleep(500)
      assert.deepEqual(consumer.messages.map((m) => JSON.parse(m.value)), [{ type: 'added', id: 1 }, { type: 'added', id: 2 }, { type: 'added', id: 3 }], 'no message for the truncated rows')
      assert.deepEqual(truncated, [{ sync: table, table: `public.${table}` }])
      const logged = lines().filter((l) => typeof l.msg === 'string' && /TRUNCATE/.test(l.msg))
      assert.equal(logged.length, 1)
      assert.equal(logged[0].table, `public.${table}`)
      assert.equal(logged[0].sync, table)
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })
})
