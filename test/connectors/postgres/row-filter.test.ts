import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import pg from 'pg'
import { checkRowFilter, rowFilterProblem } from '../../../connectors/postgres/row-filter.ts'
import { sql, stack, uniqueName } from '../../support/harness.ts'

describe('rowFilterProblem (pure; PostgreSQL parses the filter afterwards too)', () => {
  test('single expressions pass, with ";", parentheses and comment marks inside literals and quoted names', () => {
    for (const filter of [
      "plan = 'pro'",
      "status = 'active' AND (age > 18 OR vip)",
      "note <> 'a;b' AND note <> 'it''s ); --'",
      "note <> E'\\\\' AND note <> E'quote \\' ; )'",
      'note <> $$x;)y$$ AND note <> $tag$ -- /* $$ ; $tag$',
      '"we;ird )name" = 1 AND "say ""hi"";" > 0',
      'a$b$ = 1', // $ inside a name is not a dollar quote
      'price > $1', // not a dollar quote either (PostgreSQL refuses it later)
    ]) {
      assert.equal(rowFilterProblem(filter), undefined, filter)
    }
  })

  test('a second statement, an escape from the WHERE parenthesis, comments and open literals are refused, saying where', () => {
    const cases: Array<[string, RegExp]> = [
      ['true); DROP TABLE x; --', /"\)" at character 5 closes a parenthesis/],
      ['true; DROP TABLE x', /";" at character 5 ends the statement/],
      ['true), TABLE other WHERE (true', /"\)" at character 5/],
      ['true -- the rest', /comment at character 6/],
      ['true /* x */', /comment at character 6/],
      ["plan = 'pro", /string literal starting at character 8 is not closed/],
      ["plan = E'pro\\'", /not closed/],
      ['"plan = 1', /quoted name .* not closed/],
      ['note = $a$x', /dollar-quoted .* not closed/],
      ['(a OR (b', /2 parentheses are not closed/],
      ["note = 'a' ; select 1", /";" at character 12/],
    ]
    for (const [filter, expected] of cases) assert.match(rowFilterProblem(filter) ?? '', expected, filter)
  })
})

/**
 * PostgreSQL's part of the check (real PostgreSQL). A sync of a stream group checks its filter inside the
 * transaction that holds rowcast's setup lock and alters the group's publication (DROP TABLE then ADD TABLE with
 * the new filter, which must commit as one): the check must leave that transaction as it found it.
 */
describe('checkRowFilter on PostgreSQL', () => {
  let url = ''
  const clients: pg.Client[] = []
  before(async () => {
    url = (await stack()).ROWCAST_PG_URL
  })
  after(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)))
  })
  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    clients.push(client)
    return client
  }

  test('inside a caller\'s transaction, a good and a refused filter leave it open, with what it did so far', async () => {
    const env = await stack()
    const table = uniqueName('filtertx')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, note text)`)
    const client = await connect()
    await client.query('BEGIN')
    await client.query(`INSERT INTO ${table} VALUES (1, 'before the checks')`)
    assert.equal(await checkRowFilter(client, table, "note <> 'x'"), undefined)
    assert.equal(client.getTransactionStatus(), 'T', 'a good filter\'s check ended the caller\'s transaction')
    assert.match((await checkRowFilter(client, table, 'id + 1')) ?? '', /must be type boolean/)
    assert.equal(client.getTransactionStatus(), 'T', 'a refused filter\'s check ended (or aborted) the caller\'s transaction')
    await client.query(`INSERT INTO ${table} VALUES (2, 'after the checks')`)
    await client.query('COMMIT')
    const { rows } = await sql(env, `SELECT id FROM ${table} ORDER BY id`)
    assert.deepEqual(rows.map((r) => r.id), [1, 2], 'the caller\'s transaction lost what it wrote before the checks')
  })

  test('outside a transaction, it leaves none open', async () => {
    const env = await stack()
    const table = uniqueName('filternotx')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const client = await connect()
    assert.equal(await checkRowFilter(client, table, 'id > 0'), undefined)
    assert.match((await checkRowFilter(client, table, 'no_such_column = 1')) ?? '', /no_such_column/)
    assert.equal(client.getTransactionStatus(), 'I')
  })
})
