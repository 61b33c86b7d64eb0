import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { parseConfig } from '../../config/load-config.ts'
import { main } from '../../daemon/cli.ts'
import { configYaml, createTopics, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { caughtUp, finish, memoryLogger } from '../support/sync-helpers.ts'
import { kcatValues } from '../support/kcat.ts'

/**
 * Generated columns (GENERATED ALWAYS AS … STORED, issue 14 item 4): PostgreSQL 12–17 never streams their values,
 * so they are left out of the model, backfill and stream alike, with a warning at start-up and in `rowcast check`;
 * a projection that names one is refused at start-up. No message carries the null the stream would have.
 */
describe('generated columns', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  function configFile(yaml: string): string {
    const file = join(mkdtempSync(join(tmpdir(), 'rowcast-generated-')), 'rowcast.yaml')
    writeFileSync(file, yaml)
    return file
  }

  test('left out of backfilled and streamed messages, named in a start-up warning and in check', { timeout: 120_000 }, async () => {
    const table = uniqueName('gencol')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, price int NOT NULL, qty int NOT NULL, total int GENERATED ALWAYS AS (price * qty) STORED, pad text NOT NULL)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`)
    const pad = `repeat(md5(g::text), 128)` // rows of ~4 KiB
    await sql(env, `INSERT INTO ${table} (id, price, qty, pad) SELECT g, g, 2, ${pad} FROM generate_series(1, 300) g`) // backfilled
    await createTopics(env, [table], 1)
    const yaml = configYaml(env, `
  - name: ${table}
    model: { table: public.${table} }
    initialSync: backfill
    topic: ${table}
    key: id
    message: { template: '{"row": {{ row | json }}}' }
`)
    const file = configFile(yaml)
    const log = memoryLogger()
    const daemon = await runDaemon(parseConfig(yaml, process.cwd()), { logger: log.logger })
    try {
      await streaming(daemon)
      await sql(env, `INSERT INTO ${table} (id, price, qty, pad) SELECT g, g, 3, ${pad} FROM generate_series(301, 600) g`) // streamed
      await sql(env, `UPDATE ${table} SET qty = qty + 1 WHERE id % 7 = 0`)
      await caughtUp(env, [table])
      const { rows } = await sql(env, `SELECT id, price, qty FROM ${table} ORDER BY id`)
      const values = await kcatValues(env, table, 600 + rows.filter((r) => (r.id as number) % 7 === 0).length, 60_000)
      const last = new Map<number, Record<string, unknown>>()
      const withTotal: unknown[] = []
      for (const value of values) {
        const row = (JSON.parse(value) as { row: Record<string, unknown> }).row
        if ('total' in row) withTotal.push(row.total)
        last.set(row.id as number, row)
      }
      assert.equal(withTotal.length, 0, `no message carries the generated column: ${withTotal.length} do, ${withTotal.filter((t) => t === null).length} of them as null`)
      const wrong = rows.filter((r) => last.get(r.id as number)?.qty !== r.qty || last.get(r.id as number)?.price !== r.price)
      assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} rows differ from PostgreSQL`)
      const warned = log.lines().filter((l) => l.level === 40 && /"total"/.test(String(l.msg)))
      assert.equal(warned.length, 1, `one start-up warning names the generated column: ${JSON.stringify(log.lines().map((l) => l.msg))}`)
      assert.match(String(warned[0]?.msg), /generated.*left out of the model/)

      const out: string[] = []
      await main(['node', 'rowcast', 'check', '--config', file], (line) => out.push(line))
      assert.ok(out.some((l) => new RegExp(`^ok .*warning: column "total" of public\\.${table} is generated`).test(l)), out.join('\n'))
    } finally {
      await finish(env, daemon)
    }
  })

  test('a projection naming a generated column is refused at start-up, with its config path', async () => {
    const table = uniqueName('genproj')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, price int NOT NULL, total int GENERATED ALWAYS AS (price * 2) STORED)`)
    const file = configFile(configYaml(env, `
  - name: ${table}
    model: { table: public.${table}, columns: [id, total] }
    topic: ${table}
    message: { mapping: { id: id, total: total } }
`))
    const out: string[] = []
    const code = await main(['node', 'rowcast', 'validate', '--config', file], (line) => out.push(line))
    assert.notEqual(code, 0, out.join('\n'))
    assert.ok(out.some((l) => /syncs\[0\]\.model\.columns\[1\].*"total".*generated/.test(l)), out.join('\n'))
  })
})
