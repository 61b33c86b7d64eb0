import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { resolve } from 'node:path'
import { map } from 'rxjs'
import { mapItems, type InsertedOperator, type ModelChange } from 'rowcast'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configFor, consume, createTopics, eventually, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { ensureBuilt } from '../support/build.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, writeConfig } from '../support/rowcast-process.ts'
import { currentLsn, dropSyncs, record, slotConfirmed, syncConfirmed } from '../support/sync-helpers.ts'

/** Users compose the daemon with their own RxJS operators: from the config, and between the built-in steps. */
describe('custom operators', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  async function setup() {
    const table = uniqueName('custom')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, email text)`)
    await createTopics(env, [table], 1)
    return table
  }

  test('a module named under `operators:` runs on every batch (examples/custom-operator)', async () => {
    const table = await setup()
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    message: { mapping: { id: id, email: email } }
    operators: [${resolve('examples/custom-operator/mask-emails.ts')}]
`)
    const daemon = await runDaemon(config)
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a@example.com'), (2, 'hidden@example.test'), (3, 'c@example.com')`)
      const messages = await consumer.waitFor(2)
      await new Promise((r) => setTimeout(r, 1_000))
      assert.deepEqual(consumer.messages.map((m) => JSON.parse(m.value).id), [1, 3], 'the operator dropped the example.test row')
      assert.ok(messages.every((m) => m.headers['rowcast-trigger'] === 'added'))
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('the built CLI (bin/rowcast.mjs runs dist/cli.js, plain node) loads a TypeScript operator too', async () => {
    ensureBuilt() // dist/ as the sources are now (npm test built it already: then nothing to do)
    const table = await setup()
    const port = await freePort()
    const file = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    slot: ${table}
    message: { mapping: { id: id, email: email } }
    operators: [${resolve('examples/custom-operator/mask-emails.ts')}]
`, port)
    const rowcast = spawnRowcast(file, port)
    const consumer = await consume(env, [table])
    try {
      await eventually(() => rowcast.states(), (s) => s?.[table] === 'streaming', 30_000, `streaming (logs: ${rowcast.logs()})`)
      assert.match(rowcast.logs(), /"version":"[^"]+","node":"v[^"]+","msg":"starting rowcast"/, 'the CLI ran the built code')
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a@example.com'), (2, 'hidden@example.test')`)
      const [message] = await consumer.waitFor(1)
      assert.equal(message?.headers['rowcast-trigger'], 'added')
    } finally {
      await consumer.stop()
      await rowcast.kill('SIGTERM')
      await dropSlotWhenFree(env, table)
    }
  })

  test('a library user puts an operator between filterTriggers and composeMessage', async () => {
    const table = await setup()
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    message: { mapping: { id: id, email: email } }
`)
    const upperEmails: InsertedOperator<ModelChange> = map((batch) =>
      mapItems(batch, (change) => ({ ...change, row: { ...change.row, email: String(change.row.email).toUpperCase() } })),
    )
    const daemon = await runDaemon(config, { operators: { [table]: { afterFilterTriggers: [upperEmails] } } })
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a@example.com')`)
      const [message] = await consumer.waitFor(1)
      assert.deepEqual(JSON.parse(message.value), { id: 1, email: 'A@EXAMPLE.COM' })
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('a config module runs at the point it names (`after: filterTriggers`), after the library\'s operators there', async () => {
    const table = await setup()
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    message: { mapping: { id: id, email: email } }
    operators:
      - { module: ${resolve('examples/custom-operator/uppercase-emails.ts')}, after: filterTriggers }
      - ${resolve('examples/custom-operator/mask-emails.ts')}
`)
    const seen: string[] = []
    const library: InsertedOperator<ModelChange> = map((batch) => mapItems(batch, (change) => (seen.push(String(change.row.email)), change)))
    const daemon = await runDaemon(config, { operators: { [table]: { afterFilterTriggers: [library] } } })
    const consumer = await consume(env, [table])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a@example.com')`)
      const [message] = await consumer.waitFor(1)
      assert.deepEqual(JSON.parse(message.value), { id: 1, email: 'A@EXAMPLE.COM' })
      assert.equal(message.headers['rowcast-trigger'], 'added', 'the bare path still runs at the end')
      assert.deepEqual(seen, ['a@example.com'], 'the library operator ran first, on the row as it was')
    } finally {
      await consumer.stop()
      await daemon.stop()
    }
  })

  test('an operator that reorders batches fails the sync naming its module; nothing is confirmed past the reorder', { timeout: 60_000 }, async () => {
    const table = await setup()
    // Holds each batch until the next one and lets the later one pass first (as mergeMap with delays can).
    const module = resolve('test/support/swap-pairs-operator.ts')
    const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    message: { mapping: { id: id, email: email } }
    operators: [${module}]
`)
    const daemon = await runDaemon(config)
    const states = record(daemon, 'state')
    const slot = TEST_GROUP
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a@example.com')`)
      const afterFirst = await currentLsn(env)
      await sql(env, `INSERT INTO ${table} VALUES (2, 'b@example.com')`)
      await eventually(() => states.filter((s) => s.state === 'failed'), (f) => f.length > 0, 20_000, `sync failed (states: ${states.map((s) => s.state).join(',')})`)
      const reason = states.find((s) => s.state === 'failed')?.reason ?? ''
      assert.match(reason, /out of order/)
      assert.ok(reason.includes(`${module} (after handleRowErrors)`), reason)
      // It shares the file's stream group (the default): its cursor, and the group's slot, stay before the held transaction.
      const confirmed = await syncConfirmed(env, table)
      assert.ok(confirmed > 0n && confirmed < afterFirst, `the sync was not confirmed past the held transaction (${confirmed} < ${afterFirst})`)
      assert.ok((await slotConfirmed(env, slot)) < afterFirst, 'the group\'s slot was not confirmed past the held transaction')
    } finally {
      await daemon.stop()
      await dropSyncs(env, [table])
    }
  })
})
