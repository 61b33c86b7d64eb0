import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { rowFilterProblem } from '../../../connectors/postgres/row-filter.ts'

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
