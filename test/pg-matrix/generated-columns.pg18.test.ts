import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { describeTable } from '../../connectors/postgres/catalog.ts'
import { ConfigError } from '../../core/errors.ts'
import { main } from '../../daemon/cli.ts'
import { resolveSync } from '../../pipeline/resolve-sync.ts'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'
import { configYaml, consume, createTopics, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { caughtUp, finish, memoryLogger } from '../support/sync-helpers.ts'

/**
 * PostgreSQL 18 streams STORED generated columns when the publication asks (publish_generated_columns = stored):
 * they are in the model, backfilled and streamed with the table's values; VIRTUAL ones are never streamed and
 * stay out, with a warning. (15–17: test/integration/generated-columns.test.ts.)
 */
describe('generated columns on PostgreSQL 18', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
    const { rows } = await sql(env, "SELECT current_setting('server_version_num')::int AS v")
    assert.ok((rows[0].v as number) >= 180_000, `this file needs PostgreSQL 18 or later (scripts/pg-matrix.sh runs it there), the stack runs ${rows[0].v as number}`)
  })

  test('STORED values in backfilled and streamed messages (UPDATEs under REPLICA IDENTITY FULL allowed), VIRTUAL ones left out with a warning', { timeout: 120_000 }, async () => {
    const table = uniqueName('gen18')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, price int NOT NULL, qty int NOT NULL,
      total int GENERATED ALWAYS AS (price * qty) STORED, pad text NOT NULL)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    // A VIRTUAL column is never published: under the default identity it is only left out (FULL is refused: below).
    const other = `${table}_v`
    await sql(env, `CREATE TABLE ${other} (id int PRIMARY KEY, price int NOT NULL, plus_one int GENERATED ALWAYS AS (price + 1) VIRTUAL)`)
    const pad = `repeat(md5(g::text), 128)` // rows of ~4 KiB
    await sql(env, `INSERT INTO ${table} (id, price, qty, pad) SELECT g, g, 2, ${pad} FROM generate_series(1, 300) g`) // backfilled
    await createTopics(env, [table, other], 1)
    const log = memoryLogger()
    const daemon = await runDaemon(parseConfig(configYaml(env, `
  - name: ${table}
    model: { table: public.${table} }
    initialSync: backfill
    topic: ${table}
    key: id
    message: { template: '{"row": {{ row | json }}}' }
  - name: ${other}
    model: { table: public.${other} }
    topic: ${other}
    message: { template: '{"row": {{ row | json }}}' }
`), process.cwd()), { logger: log.logger })
    const consumer = await consume(env, [table, other])
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} (id, price, qty, pad) SELECT g, g, 3, ${pad} FROM generate_series(301, 600) g`) // streamed
      await sql(env, `UPDATE ${table} SET qty = qty + 1 WHERE id % 7 = 0`) // the generated value changes with it
      await sql(env, `INSERT INTO ${other} (id, price) VALUES (1, 10)`)
      await sql(env, `UPDATE ${other} SET price = 11`)
      await caughtUp(env, [table, other])
      const { rows } = await sql(env, `SELECT id, price, qty, total FROM ${table} ORDER BY id`)
      await consumer.waitFor(600 + rows.filter((r) => (r.id as number) % 7 === 0).length + 2, 60_000)
      const values = consumer.messages.filter((m) => m.topic === table).map((m) => m.value)
      const last = new Map<number, Record<string, unknown>>()
      for (const value of values) {
        const row = (JSON.parse(value) as { row: Record<string, unknown> }).row
        last.set(row.id as number, row)
      }
      assert.deepEqual(consumer.messages.filter((m) => m.topic === other).map((m) => JSON.parse(m.value) as unknown), [{ row: { id: 1, price: 10 } }, { row: { id: 1, price: 11 } }])
      const wrong = rows.filter((r) => last.get(r.id as number)?.total !== r.total || r.total !== (r.price as number) * (r.qty as number))
      assert.deepEqual(wrong.slice(0, 5).map((r) => ({ id: r.id, table: r.total, message: last.get(r.id as number)?.total })), [], `${wrong.length} rows' total differ from PostgreSQL`)
      // The syncs share the file's stream group (the default): the group's publication streams them.
      const { rows: pub } = await sql(env, 'SELECT pubgencols::text AS gencols FROM pg_publication WHERE pubname = $1', [TEST_GROUP])
      assert.equal(pub[0]?.gencols, 's', 'publish_generated_columns = stored')
      const warned = log.lines().filter((l) => l.level === 40 && /"plus_one"/.test(String(l.msg)))
      assert.equal(warned.length, 1, `one start-up warning names the VIRTUAL column: ${JSON.stringify(log.lines().map((l) => l.msg))}`)
      assert.ok(!/"total"/.test(String(warned[0]?.msg)))
    } finally {
      await consumer.stop()
      await finish(env, daemon)
    }
  })

  test('a VIRTUAL column under REPLICA IDENTITY FULL is refused at start-up (PostgreSQL would refuse the table\'s UPDATEs), and setup leaves it', async () => {
    const table = uniqueName('gen18v')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, price int NOT NULL, plus_one int GENERATED ALWAYS AS (price + 1) VIRTUAL)`)
    const syncs = `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    message: { mapping: { id: id } }
`
    const config = parseConfig(configYaml(env, syncs), process.cwd())
    const setup: string[] = []
    await main(['node', 'rowcast', 'setup', '--config', configFile(configYaml(env, syncs)), '--yes'], (line) => setup.push(line))
    assert.match(setup.join('\n'), new RegExp(`-- public\\.${table} stays as it is: .*VIRTUAL.*plus_one`))
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    const client = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await client.connect()
    try {
      const described = await describeTable(client, `public.${table}`)
      assert.deepEqual(described?.virtualColumns, ['plus_one'])
      assert.throws(() => resolveSync(described, config.syncs[0], 0), (error: unknown) => {
        assert.ok(error instanceof ConfigError)
        assert.equal(error.issues[0]?.path, 'syncs[0].model.table')
        assert.match(error.issues[0]?.message ?? '', /REPLICA IDENTITY FULL and the VIRTUAL generated column "plus_one".*refuses its UPDATEs and DELETEs/)
        return true
      })
    } finally {
      await client.end()
    }
  })
})

function configFile(yaml: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rowcast-gen18-')), 'rowcast.yaml')
  writeFileSync(file, yaml)
  return file
}
