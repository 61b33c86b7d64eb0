import { map, type OperatorFunction } from 'rxjs'
import type { Batch, ColumnInfo, ModelChange, Row, SourceChange } from '../core/changes.ts'
import { JsonText } from '../core/json-text.ts'

/** A messages sync's model: the prefix its messages start with, and the fields of a JSON content that become columns. */
export interface MessagesModel {
  prefix: string
  fields: readonly string[]
  /** The content is JSON (a json column), for a message template, mapping or column: content that is not is a row error. Else it is text, sent as it is. */
  json: boolean
}

/** The columns every logical message has, before its content's `fields`. */
export const MESSAGE_COLUMNS: readonly ColumnInfo[] = [
  { name: 'prefix', typeOid: 25, typeName: 'text', nullable: false },
  { name: 'suffix', typeOid: 25, typeName: 'text', nullable: false },
  { name: 'content', typeOid: 25, typeName: 'text', nullable: false },
  { name: 'transactional', typeOid: 16, typeName: 'bool', nullable: false },
]

const JSON_CONTENT: ColumnInfo = { name: 'content', typeOid: 114, typeName: 'json', nullable: false }

/** The model's columns: MESSAGE_COLUMNS (content a json column when `json`), then one text column per field of the content. */
export function messageColumns(fields: readonly string[], json: boolean): ColumnInfo[] {
  return [...MESSAGE_COLUMNS.map((c) => (json && c.name === 'content' ? JSON_CONTENT : c)), ...fields.map((name): ColumnInfo => ({ name, typeOid: 25, typeName: 'text', nullable: true }))]
}

/** Logical messages (op `message`) become `added` changes of the messages model; a table's changes never reach a messages sync. */
export function classifyMessages(model: MessagesModel): OperatorFunction<Batch<SourceChange>, Batch<ModelChange>> {
  return map((batch) => {
    const items: ModelChange[] = []
    for (const change of batch.items) if (change.op === 'message') items.push(messageChange(change, model))
    return { items, commitLsn: batch.commitLsn, commitTime: batch.commitTime, txId: batch.txId }
  })
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * One logical message as a change of the model: its row is { prefix, suffix (the prefix after the model's),
 * content (text; JsonText when `json`), transactional, …fields (each field's text: a string as it is, another
 * value as JSON, absent: null) }. Content that is not UTF-8, not JSON when `json`, or not a JSON object when
 * fields are read, makes the change invalid (a row error).
 */
export function messageChange(change: SourceChange, model: MessagesModel): ModelChange {
  const source = change.row as { prefix: string; content: Buffer; transactional: boolean }
  const row: Row = { prefix: source.prefix, suffix: source.prefix.slice(model.prefix.length), content: null, transactional: source.transactional }
  const out: ModelChange = { type: 'added', table: source.prefix, row, previous: null, key: null, lsn: change.lsn }
  const where = `logical message with prefix ${JSON.stringify(source.prefix)} at LSN ${change.lsn}`
  let text: string
  try {
    text = utf8.decode(source.content)
  } catch {
    for (const field of model.fields) row[field] = null
    out.invalid = `the ${where} is not UTF-8 text (${source.content.length} bytes)`
    return out
  }
  row.content = text
  if (model.fields.length === 0 && !model.json) return out
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    for (const field of model.fields) row[field] = null
    out.invalid = `the ${where} is not JSON (${errorText(error)}), as ${model.fields.length > 0 ? 'model.messages.fields' : 'the sync\'s message'} needs`
    return out
  }
  if (model.json) row.content = new JsonText(text)
  if (model.fields.length === 0) return out
  const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
  for (const field of model.fields) row[field] = isObject ? fieldText((parsed as Record<string, unknown>)[field]) : null
  if (!isObject) out.invalid = `the ${where} is not a JSON object, and model.messages.fields (${model.fields.join(', ')}) are read from it`
  return out
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function fieldText(value: unknown): string | null {
  if (value === undefined || value === null) return null
  return typeof value === 'string' ? value : JSON.stringify(value)
}
