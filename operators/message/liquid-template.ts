/** The general template path: liquidjs, parsed once at start-up, `renderSync` per row, output checked with JSON.parse. */
import { Liquid } from 'liquidjs'
import type { Template } from 'liquidjs'
import { RowcastError, errorMessage } from '../../core/errors.ts'
import { JsonText } from '../../core/json-text.ts'
import type { ComposeContext } from '../../core/changes.ts'
import { assertJson, jsonInString, jsonNumericValue, jsonValue } from './json-text.ts'
import { ESCAPE_FILTERS } from './template-plan.ts'

/**
 * The one Liquid engine of message templates. Unknown filters are start-up errors; `templates: {}` keeps
 * `{% include %}`/`{% render %}` off the file system; templates see only own properties of the row.
 */
export const templateEngine = new Liquid({ strictFilters: true, ownPropertyOnly: true, templates: {} })
templateEngine.registerFilter(ESCAPE_FILTERS['in-string'], jsonInString)
templateEngine.registerFilter(ESCAPE_FILTERS.value, jsonValue)
templateEngine.registerFilter(ESCAPE_FILTERS['numeric-value'], jsonNumericValue)
// liquidjs' own `json` filter, except that a json/jsonb value keeps its text (JSON.stringify would parse it via toJSON).
templateEngine.registerFilter('json', (value: unknown, space: unknown = 0) =>
  value instanceof JsonText && !space ? value.text : JSON.stringify(value, null, space as number),
)

/** `templates` is the parsed rewritten source of template-plan.ts (its tags already end in escaping filters). */
export function compileLiquidTemplate(templates: Template[]): (ctx: ComposeContext) => string {
  return (ctx) => {
    let text: string
    try {
      // A plain scope object: the engine reads own properties only, whatever shape the caller's context has.
      text = String(templateEngine.renderSync(templates, { row: ctx.row, previous: ctx.previous, event: ctx.event }))
    } catch (error) {
      throw new RowcastError('ROW_RENDER_FAILED', `template render failed: ${errorMessage(error)}`, { cause: error })
    }
    assertJson(text)
    return text
  }
}
