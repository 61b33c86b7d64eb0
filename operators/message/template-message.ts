/** `template` mode: validate a Liquid template against the model, then pick the fast path or liquidjs. */
import { ConfigError, errorMessage } from '../../core/errors.ts'
import type { ConfigIssue } from '../../core/errors.ts'
import type { ComposeContext } from '../../core/changes.ts'
import type { ColumnIndex } from './columns.ts'
import { compileJsonTemplate } from './json-template.ts'
import { compileLiquidTemplate, templateEngine } from './liquid-template.ts'
import { planTemplate } from './template-plan.ts'
import type { TemplatePlan } from './template-plan.ts'

const EVENT_FIELDS: ReadonlySet<string> = new Set(['type', 'table', 'commitTime', 'lsn'])

export function compileTemplateMessage(template: string, columns: ColumnIndex, path: string): (ctx: ComposeContext) => string {
  const issuePath = `${path}.template`
  let plan: TemplatePlan
  try {
    const segments = templateEngine.globalVariableSegmentsSync(templateEngine.parse(template))
    const issues = checkReferences(segments, columns, issuePath)
    if (issues.length > 0) throw new ConfigError(issues)
    plan = planTemplate(template, templateEngine, columns)
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw new ConfigError([{ path: issuePath, message: `invalid Liquid template: ${errorMessage(error)}` }])
  }
  if (plan.fast) return compileJsonTemplate(plan.fast)
  return compileLiquidTemplate(templateEngine.parse(plan.liquidSource))
}

/** Every `row.X` / `previous.X` must name a column, every `event.X` an event field; no other variables exist. */
function checkReferences(segments: ReadonlyArray<ReadonlyArray<unknown>>, columns: ColumnIndex, path: string): ConfigIssue[] {
  const messages = new Set<string>()
  for (const [root, key] of segments) {
    if (root === 'row' || root === 'previous') {
      if (typeof key === 'string') {
        const issue = columns.check(key, path)
        if (issue) messages.add(issue.message)
      }
    } else if (root === 'event') {
      if (typeof key === 'string' && !EVENT_FIELDS.has(key)) {
        messages.add(`event has no field ${JSON.stringify(key)} (it has ${[...EVENT_FIELDS].join(', ')})`)
      }
    } else {
      messages.add(`unknown variable ${JSON.stringify(root)}; a message template sees row, previous and event`)
    }
  }
  return [...messages].map((message) => ({ path, message }))
}
