/**
 * The fast template path: a template that only interpolates plain variable paths becomes, once at start-up, a
 * concatenation of literal parts and per-slot formatters. Must render exactly what liquid-template.ts renders.
 */
import type { ComposeContext } from '../../core/changes.ts'
import { assertJson, jsonInString, jsonNumericValue, jsonValue } from './json-text.ts'
import type { Escape, FastSlot, FastTemplate } from './template-plan.ts'

type SlotRenderer = (ctx: ComposeContext) => string

const FORMATTERS: Readonly<Record<Escape, (value: unknown) => string>> = {
  'in-string': jsonInString,
  value: jsonValue,
  'numeric-value': jsonNumericValue,
}

export function compileJsonTemplate(template: FastTemplate): (ctx: ComposeContext) => string {
  const { literals, provablyValid } = template
  const slots = template.slots.map(compileSlot)
  const count = slots.length
  const head = literals[0]
  const render = (ctx: ComposeContext): string => {
    let out = head
    for (let i = 0; i < count; i++) out += slots[i](ctx) + literals[i + 1]
    return out
  }
  if (provablyValid) return render
  return (ctx) => {
    const text = render(ctx)
    assertJson(text)
    return text
  }
}

function compileSlot(slot: FastSlot): SlotRenderer {
  const format = FORMATTERS[slot.escape]
  const key = slot.key
  // Liquid reads own properties only; a key like `constructor` must not reach Object.prototype.
  const read = key in Object.prototype
    ? (object: Record<string, unknown> | null) => (object !== null && Object.hasOwn(object, key) ? object[key] : undefined)
    : (object: Record<string, unknown> | null) => (object === null ? undefined : object[key])
  switch (slot.root) {
    case 'row':
      return (ctx) => format(read(ctx.row))
    case 'previous':
      return (ctx) => format(read(ctx.previous))
    case 'event':
      return (ctx) => format(read(ctx.event))
  }
}
