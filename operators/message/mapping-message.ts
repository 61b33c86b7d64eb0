/** `mapping` mode: a JSON object of field name → value of a column, in mapping order. */
import { ConfigError } from '../../core/errors.ts'
import type { ConfigIssue } from '../../core/errors.ts'
import type { ComposeContext } from '../../core/changes.ts'
import { childPath } from './columns.ts'
import type { ColumnIndex } from './columns.ts'
import { jsonValue } from './json-text.ts'

export function compileMappingMessage(
  mapping: Readonly<Record<string, string>>,
  columns: ColumnIndex,
  path: string,
): (ctx: ComposeContext) => string {
  const entries = Object.entries(mapping)
  const issues: ConfigIssue[] = []
  if (entries.length === 0) issues.push({ path: `${path}.mapping`, message: 'mapping must map at least one field' })
  for (const [field, column] of entries) {
    const issue = columns.check(column, childPath(`${path}.mapping`, field))
    if (issue) issues.push(issue)
  }
  if (issues.length > 0) throw new ConfigError(issues)

  // `{"customer_email":` … `,"customer_first_name":` … computed once; per row only the values are stringified.
  const prefixes = entries.map(([field], i) => `${i === 0 ? '{' : ','}${JSON.stringify(field)}:`)
  const names = entries.map(([, column]) => column)
  const count = names.length
  return (ctx) => {
    const row = ctx.row
    let out = ''
    for (let i = 0; i < count; i++) out += prefixes[i] + jsonValue(row[names[i]])
    return out + '}'
  }
}
