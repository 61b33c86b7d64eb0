import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { ColumnIndex } from '../../operators/message/columns.ts'
import { compileJsonTemplate } from '../../operators/message/json-template.ts'
import { compileLiquidTemplate, templateEngine } from '../../operators/message/liquid-template.ts'
import { planTemplate } from '../../operators/message/template-plan.ts'
import type { ComposeContext, Row } from '../../core/changes.ts'
import { HOSTILE_STRINGS, columns, context } from './message-fixtures.ts'

const COLUMNS = new ColumnIndex(
  columns('s:text', 't:text', 'n:int4', 'big:int8', 'price:numeric', 'f:float8', 'ok:bool', 'doc:jsonb', 'tags:_text', 'nums:_int4', 'x y:text', 'constructor:text', 'first:text'),
  'public.things',
)

function plan(template: string) {
  return planTemplate(template, templateEngine, COLUMNS)
}

/** Both paths of one fast-eligible template. */
function bothPaths(template: string) {
  const p = plan(template)
  assert.ok(p.fast, `expected the fast path for ${template}`)
  return {
    fast: compileJsonTemplate(p.fast),
    liquid: compileLiquidTemplate(templateEngine.parse(p.liquidSource)),
    provablyValid: p.fast.provablyValid,
  }
}

/** Deterministic PRNG (mulberry32), so a failure is reproducible. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function hostileRow(rand: () => number): Row {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]
  const str = () => (rand() < 0.15 ? null : pick(HOSTILE_STRINGS) + (rand() < 0.3 ? pick(HOSTILE_STRINGS) : ''))
  const row: Row = {
    s: str(),
    t: str(),
    n: pick([0, -1, 42, 2147483647, null]),
    big: pick(['9007199254740993', '-9223372036854775808', 12, null]),
    price: pick(['12.50', '-0.0001', '1e5', 'NaN', 'Infinity', '00', null]),
    f: pick([1.5, -0, 1e21, 5e-324, Number.NaN, null]),
    ok: pick([true, false, null]),
    doc: pick([{ a: str(), nested: { list: [str(), 1, null, true] } }, [str(), { k: str() }], 'a jsonb string "', 7, null]),
    tags: pick([[str(), str()], [], null, [null]]),
    nums: pick([[1, 2, 3], [], null]),
    'x y': str(),
    constructor: str(),
    first: str(),
  }
  if (rand() < 0.1) delete row[pick(['s', 'constructor', 'first'])] // e.g. a delete that only carries key columns
  return row
}

function hostileContext(rand: () => number): ComposeContext {
  const ctx = context(hostileRow(rand), rand() < 0.5 ? null : hostileRow(rand))
  return ctx
}

const SLOTS = [
  'row.s', 'row.t', 'row.n', 'row.big', 'row.price', 'row.f', 'row.ok', 'row.doc', 'row.tags', 'row.nums',
  'row["x y"]', "row['constructor']", 'row.first', 'previous.s', 'previous.price', 'previous.doc', 'event.type', 'event.lsn', 'event.commitTime',
]

/** A random fast-eligible template: an object whose members interpolate slots inside and outside string literals. */
function randomTemplate(rand: () => number): string {
  const members: string[] = []
  const count = 1 + Math.floor(rand() * 8)
  for (let i = 0; i < count; i++) {
    const slot = SLOTS[Math.floor(rand() * SLOTS.length)]
    const tag = rand() < 0.5 ? `{{ ${slot} }}` : rand() < 0.5 ? `{{${slot}}}` : `{{- ${slot} -}}`
    const inString = rand() < 0.5
    const value = inString ? `"pre \\" ${tag} \\\\ mid ${rand() < 0.3 ? tag : ''} post"` : tag
    members.push(`${rand() < 0.3 ? '\n  ' : ''}"k${i} }} %}": ${value}`)
  }
  return `{${members.join(', ')}}`
}

describe('template paths: fast compiled vs liquidjs', () => {
  test('render identical text for many hostile rows, across many templates', () => {
    const rand = random(20240501)
    let rows = 0
    for (let t = 0; t < 60; t++) {
      const template = randomTemplate(rand)
      const { fast, liquid, provablyValid } = bothPaths(template)
      assert.ok(provablyValid, template)
      for (let r = 0; r < 40; r++) {
        const ctx = hostileContext(rand)
        const expected = liquid(ctx)
        assert.equal(fast(ctx), expected, `template ${template}\nrow ${JSON.stringify(ctx)}`)
        JSON.parse(expected)
        rows++
      }
    }
    assert.ok(rows >= 1000)
  })

  test('the seed-style template, with whitespace control and newlines', () => {
    const { fast, liquid } = bothPaths(`{\n  "name": "{{row.s}}",\n  "age": {{ row.n -}} ,\n  "info": [ {"v": "{{- row.t }}"}, {{ row.doc }} ]\n}\n`)
    const rand = random(7)
    for (let r = 0; r < 1000; r++) {
      const ctx = hostileContext(rand)
      assert.equal(fast(ctx), liquid(ctx))
    }
  })
})

describe('planTemplate', () => {
  test('plain-path templates take the fast path; tags, filters and special keys do not', () => {
    assert.ok(plan('{"a": {{ row.s }}, "b": "{{ previous["x y"] }}", "c": "{{ event.type }}"}').fast)
    for (const template of ['{% if row.ok %}{}{% endif %}', '{"a": {{ row.s | upcase }}}', '{"a": {{ row.doc.a }}}', '{"a": {{ row.tags.size }}}', '{"a": {{ row.size }}}', '{"a": "{{ "lit" }}"}']) {
      assert.equal(plan(template).fast, null, template)
    }
  })

  test('output tags get the escaping filter of where they sit; the tag\'s own filters come first', () => {
    assert.equal(
      plan(`{"a": "x{{row.s}}", "b": {{ row.s | upcase }}, "c": {{-row.f-}}, "d": {{ row.doc | json }}, "e": "{{ row.doc | json }}", "f": "\\"{{ row.t }}"}`).liquidSource,
      `{"a": "x{{ row.s | json_in_string }}", "b": {{ row.s | upcase | json_value }}, "c": {{- row.f | json_numeric_value -}}, "d": {{ row.doc | json }}, "e": "{{ row.doc | json | json_in_string }}", "f": "\\"{{ row.t | json_in_string }}"}`,
    )
  })

  test('echo tags are escaped; capture and comment bodies are left alone', () => {
    assert.equal(
      plan(`{% capture c %}"{{ row.s }}{% endcapture %}{% comment %}"{{ row.t }}{% endcomment %}{"a": "{% echo row.s %}", "b": {{ c }}}`).liquidSource,
      `{% capture c %}"{{ row.s }}{% endcapture %}{% comment %}"{{ row.t }}{% endcomment %}{"a": "{% echo row.s | json_in_string %}", "b": {{ c | json_value }}}`,
    )
  })

  test('the JSON.parse per row is skipped only when the skeleton proves every output valid', () => {
    assert.equal(plan('{"a": {{ row.s }}, "b": "{{ row.s }}{{ row.t }}"}').fast?.provablyValid, true)
    assert.equal(plan('{"a": {{ row.s }}').fast?.provablyValid, false)
    assert.equal(plan('{"a": {{ row.n }}{{ row.n }}}').fast?.provablyValid, false)
    assert.equal(plan('{"a": 1{{ row.n }}}').fast?.provablyValid, false)
    assert.equal(plan('{"a": "\\{{ row.s }}"}').fast?.provablyValid, false)
  })

  test('an output after a backslash or adjacent to a number is validated per row', () => {
    const { fast, liquid } = bothPaths('{"a": 1{{ row.n }}}')
    assert.equal(fast(context({ n: 2 })), '{"a": 12}')
    assert.throws(() => fast(context({ n: null })), { code: 'ROW_INVALID_JSON' })
    assert.throws(() => liquid(context({ n: null })), { code: 'ROW_INVALID_JSON' })
  })
})
