/**
 * Compile-time analysis of a Liquid message template: which output tags sit inside a JSON string literal of the
 * template, the template rewritten so that every output tag ends in the matching escaping filter, and — when the
 * template only interpolates plain variable paths — the literal parts and slots for the fast path (json-template.ts).
 */
import { Tokenizer, TypeGuards, Value } from 'liquidjs'
import type { Liquid } from 'liquidjs'
import type { ColumnIndex } from './columns.ts'

/** How a slot's value is turned into text. */
export type Escape = 'in-string' | 'value' | 'numeric-value'

/** The registered Liquid filter that applies each escape (see liquid-template.ts). */
export const ESCAPE_FILTERS: Readonly<Record<Escape, string>> = {
  'in-string': 'json_in_string',
  value: 'json_value',
  'numeric-value': 'json_numeric_value',
}

export type Root = 'row' | 'previous' | 'event'

export interface FastSlot {
  root: Root
  key: string
  escape: Escape
}

export interface FastTemplate {
  /** literals.length === slots.length + 1; output = literals[0] + slot0 + literals[1] + … */
  literals: string[]
  slots: FastSlot[]
  /** True when the output is valid JSON whatever the values, so it needs no JSON.parse per row. */
  provablyValid: boolean
}

export interface TemplatePlan {
  /** The template with each output tag rewritten to end in its escaping filter; what liquidjs renders. */
  liquidSource: string
  /** Set when the template has no tags, no filters and only `row.x` / `previous.x` / `event.x` outputs. */
  fast: FastTemplate | null
}

const ROOTS: ReadonlySet<string> = new Set(['row', 'previous', 'event'])
/** Liquid reads `x.size` of an object without a `size` property as its number of keys: leave that to liquidjs. */
const LIQUID_SPECIAL_KEYS: ReadonlySet<string> = new Set(['size'])
/** Filters whose result is already JSON text: outside a string literal it must not be quoted again. */
const JSON_RESULT_FILTERS: ReadonlySet<string> = new Set(['json', ESCAPE_FILTERS.value, ESCAPE_FILTERS['numeric-value']])

/** Throws liquidjs' parse/tokenize errors as they are; the caller turns them into config issues. */
export function planTemplate(template: string, liquid: Liquid, columns: ColumnIndex): TemplatePlan {
  const tokens = new Tokenizer(template, liquid.options.operators).readTopLevelTokens(liquid.options)
  const scanner = new JsonStringScanner()
  const literals = ['']
  const slots: FastSlot[] = []
  let source = ''
  let fast = true
  let uncertain = false // a slot right after a backslash inside a string: the skeleton proves nothing
  let asideDepth = 0 // inside {% comment %} or {% capture %}: output is not the message text, leave it alone

  for (const token of tokens) {
    if (TypeGuards.isHTMLToken(token)) {
      source += token.getText()
      if (asideDepth === 0) {
        const text = token.getContent() // after whitespace control: exactly what is emitted
        scanner.scan(text)
        literals[literals.length - 1] += text
      }
      continue
    }
    if (TypeGuards.isTagToken(token)) {
      fast = false
      const name = token.name
      if (name === 'comment' || name === 'capture') asideDepth++
      else if ((name === 'endcomment' || name === 'endcapture') && asideDepth > 0) asideDepth--
      if (name === 'echo' && asideDepth === 0 && token.args.trim() !== '') {
        const expression = token.args.trim()
        const escape = chooseEscape(scanner.inString, parseOutput(expression, liquid), columns)
        if (scanner.escaped) uncertain = true
        source += delimit('{%', token.trimLeft, `echo ${withFilter(expression, escape)}`, token.trimRight, '%}')
      } else {
        source += token.getText()
      }
      continue
    }
    if (!TypeGuards.isOutputToken(token) || asideDepth > 0) {
      source += token.getText()
      fast = false
      continue
    }
    const expression = token.content.trim()
    const output = parseOutput(expression, liquid)
    const escape = chooseEscape(scanner.inString, output, columns)
    if (scanner.escaped) uncertain = true
    source += delimit('{{', token.trimLeft, withFilter(expression, escape), token.trimRight, '}}')
    if (fast && escape !== null && output.filters.length === 0 && output.path) {
      slots.push({ ...output.path, escape })
      literals.push('')
    } else {
      fast = false
    }
  }

  if (!fast) return { liquidSource: source, fast: null }
  return { liquidSource: source, fast: { literals, slots, provablyValid: !uncertain && skeletonParses(literals, slots) } }
}

interface ParsedOutput {
  filters: string[]
  /** Set for a plain two-segment path such as `row.x`, `row["x"]`, `event.type`. */
  path: { root: Root; key: string } | undefined
}

function parseOutput(expression: string, liquid: Liquid): ParsedOutput {
  const value = new Value(expression, liquid)
  const filters = value.filters.map((f) => f.name)
  const postfix = value.initial.postfix
  let path: ParsedOutput['path']
  const token = postfix[0]
  if (postfix.length === 1 && TypeGuards.isPropertyAccessToken(token) && token.variable === undefined) {
    const [root, key] = token.props
    if (token.props.length === 2 && TypeGuards.isWordToken(root) && ROOTS.has(root.content)) {
      const name = TypeGuards.isWordToken(key) || TypeGuards.isQuotedToken(key) ? key.content : undefined
      if (name !== undefined && !LIQUID_SPECIAL_KEYS.has(name)) path = { root: root.content as Root, key: name }
    }
  }
  return { filters, path }
}

/** The escape to append, or null when the tag's own last filter already produces the right text. */
function chooseEscape(inString: boolean, output: ParsedOutput, columns: ColumnIndex): Escape | null {
  const last = output.filters[output.filters.length - 1]
  if (inString) return last === ESCAPE_FILTERS['in-string'] ? null : 'in-string'
  if (last !== undefined && JSON_RESULT_FILTERS.has(last)) return null
  const path = output.path
  const numeric = output.filters.length === 0 && path !== undefined && path.root !== 'event' && columns.isNumeric(path.key)
  return numeric ? 'numeric-value' : 'value'
}

function withFilter(expression: string, escape: Escape | null): string {
  return escape === null ? expression : `${expression} | ${ESCAPE_FILTERS[escape]}`
}

function delimit(open: string, trimLeft: boolean, body: string, trimRight: boolean, close: string): string {
  return `${open}${trimLeft ? '-' : ''} ${body} ${trimRight ? '-' : ''}${close}`
}

/** The template with each slot replaced by the emptiest text its escape can produce: if that parses, any values do. */
function skeletonParses(literals: readonly string[], slots: readonly FastSlot[]): boolean {
  let skeleton = literals[0]
  slots.forEach((slot, i) => {
    skeleton += (slot.escape === 'in-string' ? '' : 'null') + literals[i + 1]
  })
  try {
    JSON.parse(skeleton)
    return true
  } catch {
    return false
  }
}

/** Tracks whether the text so far ends inside a JSON string literal, honouring backslash escapes. */
class JsonStringScanner {
  inString = false
  escaped = false

  scan(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i)
      if (!this.inString) {
        if (ch === 0x22) this.inString = true
      } else if (this.escaped) {
        this.escaped = false
      } else if (ch === 0x5c) {
        this.escaped = true
      } else if (ch === 0x22) {
        this.inString = false
      }
    }
  }
}
