/** `column` mode: one column already holds the whole message as json/jsonb, or as text containing JSON. */
import { ConfigError, RowcastError } from '../../core/errors.ts'
import type { ComposeContext } from '../../core/changes.ts'
import type { ColumnIndex } from './columns.ts'
import { assertJson, jsonValue } from './json-text.ts'

const JSON_TYPES = new Set(['json', 'jsonb'])
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'citext'])

export function compileColumnMessage(column: string, columns: ColumnIndex, path: string): (ctx: ComposeContext) => string {
  const issuePath = `${path}.column`
  const missing = columns.check(column, issuePath)
  if (missing) throw new ConfigError([missing])
  const typeName = columns.get(column)!.typeName
  const isJson = JSON_TYPES.has(typeName)
  if (!isJson && !TEXT_TYPES.has(typeName)) {
    throw new ConfigError([
      {
        path: issuePath,
        message: `column ${JSON.stringify(column)} is of type ${typeName}; a message column must be json, jsonb or text`,
      },
    ])
  }
  const label = `column ${JSON.stringify(column)}`

  return (ctx) => {
    const value = ctx.row[column]
    if (value === null || value === undefined) {
      throw new RowcastError('ROW_INVALID_JSON', `${label} is NULL; a message cannot be null`)
    }
    if (isJson) return jsonValue(value) // the server's text as it was sent (JsonText)
    const text = typeof value === 'string' ? value : String(value)
    assertJson(text, label)
    return text
  }
}
