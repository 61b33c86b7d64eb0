/**
 * Composes the message value of a row change as JSON text, in one of the three ways of Hightouch's Kafka destination:
 * a Liquid `template`, one `column` that already holds the JSON, or a `mapping` of field names to columns.
 * Everything that can be decided at start-up (column checks, template compilation) is decided in `compileComposer`.
 */
import { map, type OperatorFunction } from 'rxjs'
import { z } from 'zod'
import { mapItems, type Batch, type ModelChange, type RejectedChange } from '../core/changes.ts'
import { RowcastError } from '../core/errors.ts'
import type { ComposedMessage } from './route-topic.ts'
import type { ColumnInfo, ComposeContext } from '../core/changes.ts'
import { ColumnIndex } from './message/columns.ts'
import { compileColumnMessage } from './message/column-message.ts'
import { compileMappingMessage } from './message/mapping-message.ts'
import { compileTemplateMessage } from './message/template-message.ts'

export const messageConfigSchema = z
  .object({
    /** A Liquid template of the JSON message; sees `row`, `previous` (null when unknown) and `event`. */
    template: z.string().min(1).optional(),
    /** A json, jsonb or text column that holds the whole message. */
    column: z.string().min(1).optional(),
    /** Message field name → column; the message is a JSON object in this order. */
    mapping: z.record(z.string(), z.string().min(1)).optional(),
    format: z.enum(['json', 'avro', 'json-schema']).default('json'),
    /** Path of a schema file, for the schema registry (see the schema-registry encoder). */
    schema: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    const modes = [config.template, config.column, config.mapping].filter((mode) => mode !== undefined)
    if (modes.length !== 1) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'exactly one of template, column, mapping must be set' })
    }
  })

export type MessageConfig = z.infer<typeof messageConfigSchema>

/** Returns the message value as JSON text; throws RowcastError (ROW_RENDER_FAILED, ROW_INVALID_JSON) for a row error. */
export type Composer = (ctx: ComposeContext) => string

/**
 * Checks the config against the model's columns, reporting every problem at once (ConfigError with paths under
 * `path`, e.g. `syncs[0].message`), and returns the composer. `modelName` (e.g. `public.users`) is shown in errors.
 */
export function compileComposer(
  config: MessageConfig,
  columns: readonly ColumnInfo[],
  path: string,
  modelName = 'the model',
): Composer {
  const index = new ColumnIndex(columns, modelName)
  if (config.template !== undefined) return compileTemplateMessage(config.template, index, path)
  if (config.column !== undefined) return compileColumnMessage(config.column, index, path)
  if (config.mapping !== undefined) return compileMappingMessage(config.mapping, index, path)
  throw new Error('compileComposer: config was not validated by messageConfigSchema') // programming error
}

/**
 * The pipeline step: renders each change's message with a compiled composer. A row that cannot be rendered
 * (or holds a large value PostgreSQL did not resend) becomes a RejectedChange for the sync's onRowError.
 */
export function composeMessage(composer: Composer): OperatorFunction<Batch<ModelChange>, Batch<ComposedMessage | RejectedChange>> {
  return map((batch) => {
    const commitTime = new Date(batch.commitTime).toISOString()
    return mapItems(batch, (change): ComposedMessage | RejectedChange => {
      if (change.unavailable !== undefined) {
        const columns = change.unavailable.map((c) => `"${c}"`).join(', ')
        return { change, reason: 'toast', error: new RowcastError('ROW_VALUE_UNAVAILABLE', `column ${columns} holds a large (TOASTed) value PostgreSQL did not resend for this update; run ALTER TABLE ${change.table} REPLICA IDENTITY FULL (see rowcast setup)`) }
      }
      if (change.invalid !== undefined) return { change, reason: 'render', error: new RowcastError('ROW_INVALID_JSON', change.invalid) }
      try {
        const value = composer({ row: change.row, previous: change.previous, event: { type: change.type, table: change.table, commitTime, lsn: change.lsn } })
        return { change, value }
      } catch (error) {
        return { change, reason: 'render', error: error instanceof Error ? error : new Error(String(error)) }
      }
    })
  })
}
