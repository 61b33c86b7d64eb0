import type pg from 'pg'
import { errorMessage, type ConfigIssue } from '../../core/errors.ts'

/**
 * A sync's row filter is written into DDL (`CREATE PUBLICATION … WHERE (<filter>)`) and into the snapshot's
 * query, so it must be one boolean expression over the model's table and nothing more. Checked twice before
 * any of that: by `rowFilterProblem` (no `;`, no comment, parentheses balanced outside literals and quoted
 * names, so the text cannot close the WHERE's parenthesis), then by PostgreSQL's own parser.
 */

/** Why the filter is not a single expression as text, or undefined. Pure. */
export function rowFilterProblem(filter: string): string | undefined {
  let depth = 0
  let i = 0
  while (i < filter.length) {
    const c = filter[i]
    const next = filter[i + 1]
    if (c === "'") {
      const end = stringEnd(filter, i, isEscapeString(filter, i))
      if (end < 0) return `a string literal starting at character ${i + 1} is not closed`
      i = end + 1
      continue
    }
    if (c === '"') {
      const end = filter.indexOf('"', i + 1)
      if (end < 0) return `a quoted name starting at character ${i + 1} is not closed`
      i = end + 1 // a doubled "" inside a name simply starts the next quoted part
      continue
    }
    if (c === '$' && !isIdentChar(filter[i - 1])) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(filter.slice(i))?.[0]
      if (tag !== undefined) {
        const end = filter.indexOf(tag, i + tag.length)
        if (end < 0) return `a dollar-quoted string starting at character ${i + 1} is not closed`
        i = end + tag.length
        continue
      }
    }
    if (c === ';') return `";" at character ${i + 1} ends the statement: a filter is one expression (put a ";" inside quotes if it is data)`
    if ((c === '-' && next === '-') || (c === '/' && next === '*')) return `a comment at character ${i + 1}: a filter is one expression, without comments`
    if (c === '(') depth++
    if (c === ')' && --depth < 0) return `")" at character ${i + 1} closes a parenthesis the filter did not open`
    i++
  }
  return depth > 0 ? `${depth} parenthes${depth === 1 ? 'is is' : 'es are'} not closed` : undefined
}

/**
 * Why the filter is not one boolean expression over `table`, or undefined: `rowFilterProblem`, then PostgreSQL
 * parses `SELECT 1 FROM <table> WHERE (<filter>) LIMIT 0` as one prepared statement (the extended protocol
 * refuses several statements), in a read-only transaction that is rolled back; inside the caller's transaction
 * (a stream group's publication change, under the setup lock), in a savepoint rolled back to, so that transaction
 * goes on as it was. `table` is a quoted name (as `describeTable` returns it).
 */
export async function checkRowFilter(client: pg.ClientBase, table: string, filter: string): Promise<string | undefined> {
  const problem = rowFilterProblem(filter)
  if (problem !== undefined) return problem
  const inTransaction = client.getTransactionStatus() === 'T'
  await client.query(inTransaction ? 'SAVEPOINT rowcast_filter_check' : 'BEGIN READ ONLY')
  try {
    // queryMode is in pg 8.23 but not in @types/pg
    await client.query({ text: `SELECT 1 FROM ${table} WHERE (${filter}) LIMIT 0`, queryMode: 'extended' } as pg.QueryConfig)
    return undefined
  } catch (error) {
    return `PostgreSQL does not take it as a condition on ${table}: ${errorMessage(error)}`
  } finally {
    if (inTransaction) await client.query('ROLLBACK TO SAVEPOINT rowcast_filter_check; RELEASE SAVEPOINT rowcast_filter_check')
    else await client.query('ROLLBACK')
  }
}

/** `checkRowFilter` as a config issue at `path` (`syncs[0].model.filter`), or undefined when the filter is fine. */
export async function rowFilterIssue(client: pg.ClientBase, table: string, filter: string, path: string): Promise<ConfigIssue | undefined> {
  const problem = await checkRowFilter(client, table, filter)
  return problem === undefined ? undefined : { path, message: `not a single condition on the table: ${problem}` }
}

/** Index of the quote that closes the literal opened at `start` ('' is a quote inside; in E'…' so is \'), or -1. */
function stringEnd(text: string, start: number, backslashEscapes: boolean): number {
  for (let i = start + 1; i < text.length; i++) {
    if (backslashEscapes && text[i] === '\\') i++
    else if (text[i] === "'") {
      if (text[i + 1] !== "'") return i
      i++
    }
  }
  return -1
}

/** E'…' (or e'…'), where E is a prefix and not the end of a name. */
function isEscapeString(text: string, quote: number): boolean {
  return (text[quote - 1] === 'E' || text[quote - 1] === 'e') && !isIdentChar(text[quote - 2])
}

function isIdentChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c)
}
