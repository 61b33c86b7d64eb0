import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { compileComposer, messageConfigSchema } from '../../operators/compose-message.ts'
import type { Composer } from '../../operators/compose-message.ts'
import { ConfigError, RowcastError } from '../../core/errors.ts'
import type { ColumnInfo } from '../../core/changes.ts'
import { JsonText } from '../../core/json-text.ts'
import { HOSTILE_STRINGS, columns, context } from './message-fixtures.ts'
import { SEED_TEMPLATE, SEED_TEMPLATE_MESSAGE } from '../support/seed-examples.ts'

const PATH = 'syncs[0].message'

function compose(config: unknown, cols: readonly ColumnInfo[]): Composer {
  return compileComposer(messageConfigSchema.parse(config), cols, PATH, 'public.users')
}

function configIssues(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`)
    return [...error.issues]
  }
  assert.fail('expected a ConfigError')
}

function rowError(fn: () => unknown): RowcastError {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof RowcastError, `expected RowcastError, got ${String(error)}`)
    assert.equal(error.retriable, false)
    return error
  }
  assert.fail('expected a row error')
}

const USERS = columns('full_name:text', 'age:int4', 'email_address:text', 'phone_number:text')
const JOHN = { full_name: 'John Doe', age: 30, email_address: 'john@example.com', phone_number: '+14158675309' }

const SEED_MAPPING = { customer_first_name: 'first_name', customer_last_name: 'last_name', customer_email: 'email' }
const PEOPLE = columns('email:text', 'first_name:text', 'last_name:text')
const ALICE = { email: 'alice.doe@example.com', first_name: 'Alice', last_name: 'Doe' }

describe('messageConfigSchema', () => {
  test('accepts exactly one mode and defaults format to json', () => {
    assert.deepEqual(messageConfigSchema.parse({ column: 'payload' }), { column: 'payload', format: 'json' })
    assert.equal(messageConfigSchema.parse({ template: '{}', format: 'avro', schema: 'a.avsc' }).format, 'avro')
  })

  for (const config of [{}, { template: '{}', column: 'c' }, { column: 'c', mapping: { a: 'b' } }, { format: 'json' }]) {
    test(`rejects ${JSON.stringify(config)}`, () => {
      const result = messageConfigSchema.safeParse(config)
      assert.equal(result.success, false)
      assert.match(result.error!.issues.map((i) => i.message).join('\n'), /exactly one of template, column, mapping/)
    })
  }

  test('rejects unknown keys and formats', () => {
    assert.equal(messageConfigSchema.safeParse({ column: 'c', colum: 'd' }).success, false)
    assert.equal(messageConfigSchema.safeParse({ column: 'c', format: 'xml' }).success, false)
  })
})

describe('mapping', () => {
  test('the seed example: Alice, in mapping order', () => {
    const text = compose({ mapping: SEED_MAPPING }, PEOPLE)(context(ALICE))
    assert.equal(text, '{"customer_first_name":"Alice","customer_last_name":"Doe","customer_email":"alice.doe@example.com"}')
    assert.deepEqual(JSON.parse(text), {
      customer_first_name: 'Alice',
      customer_last_name: 'Doe',
      customer_email: 'alice.doe@example.com',
    })
  })

  test('hostile values, NULLs, numbers, jsonb and arrays stay valid JSON and round-trip', () => {
    const cols = columns('s:text', 'n:int8', 'big:int8', 'doc:jsonb', 'tags:_text', 'ok:bool', 'missing:text')
    const composer = compose({ mapping: { 'field "quoted"\n': 's', n: 'n', big: 'big', doc: 'doc', tags: 'tags', ok: 'ok', gone: 'missing' } }, cols)
    for (const s of HOSTILE_STRINGS) {
      const row = { s, n: 42, big: '9007199254740993', doc: { s, nested: [s, null, 1.5] }, tags: [s, null], ok: false, missing: null }
      const parsed = JSON.parse(composer(context(row)))
      assert.deepEqual(parsed, {
        'field "quoted"\n': s,
        n: 42,
        big: '9007199254740993',
        doc: row.doc,
        tags: row.tags,
        ok: false,
        gone: null,
      })
    }
  })

  test('a column absent from the row (e.g. a delete with only key columns) is null', () => {
    assert.equal(compose({ mapping: { a: 'email' } }, PEOPLE)(context({})), '{"a":null}')
  })

  test('every unknown column is reported at once, with the path of its field', () => {
    const issues = configIssues(() =>
      compose({ mapping: { customer_email: 'emial', customer_first_name: 'first_name', 'last name': 'lastname' } }, PEOPLE),
    )
    assert.deepEqual(issues, [
      { path: 'syncs[0].message.mapping.customer_email', message: 'column "emial" does not exist in public.users' },
      { path: 'syncs[0].message.mapping["last name"]', message: 'column "lastname" does not exist in public.users' },
    ])
  })
})

describe('column', () => {
  const cols = columns('doc:jsonb', 'j:json', 'body:text', 'name:varchar', 'n:int4')

  test('jsonb and json values are serialised', () => {
    const doc = { event: 'signup', props: { quote: 'a"b\\c\n', emoji: '🎉' }, list: [1, null, true] }
    assert.deepEqual(JSON.parse(compose({ column: 'doc' }, cols)(context({ doc }))), doc)
    assert.equal(compose({ column: 'j' }, cols)(context({ j: [1, 'two'] })), '[1,"two"]')
  })

  test('text holding JSON is emitted as is', () => {
    const body = '{ "a" : [1, 2],\n  "b": "\\u00e9" }'
    assert.equal(compose({ column: 'body' }, cols)(context({ body })), body)
  })

  test('text that is not JSON is a row error naming the column', () => {
    const error = rowError(() => compose({ column: 'body' }, cols)(context({ body: '{"a": 1' })))
    assert.equal(error.code, 'ROW_INVALID_JSON')
    assert.match(error.message, /column "body" is not valid JSON: /)
  })

  test('NULL is a row error: a null message is not a message', () => {
    for (const column of ['doc', 'body']) {
      const error = rowError(() => compose({ column }, cols)(context({ [column]: null })))
      assert.equal(error.code, 'ROW_INVALID_JSON')
      assert.match(error.message, new RegExp(`column "${column}" is NULL`))
    }
  })

  test('an unknown column or a column of another type is a start-up error', () => {
    assert.deepEqual(configIssues(() => compose({ column: 'dco' }, cols)), [
      { path: 'syncs[0].message.column', message: 'column "dco" does not exist in public.users' },
    ])
    const [issue] = configIssues(() => compose({ column: 'n' }, cols))
    assert.equal(issue.path, 'syncs[0].message.column')
    assert.match(issue.message, /type int4; a message column must be json, jsonb or text/)
  })
})

describe('template', () => {
  test('the seed example', () => {
    assert.deepEqual(JSON.parse(compose({ template: SEED_TEMPLATE }, USERS)(context(JOHN))), SEED_TEMPLATE_MESSAGE)
  })

  test('the seed example through liquidjs (a tag forces the general path)', () => {
    const template = `{% if true %}${SEED_TEMPLATE}{% endif %}`
    assert.deepEqual(JSON.parse(compose({ template }, USERS)(context(JOHN))), SEED_TEMPLATE_MESSAGE)
  })

  for (const [label, prefix] of [['fast path', ''], ['liquidjs', '{%- comment -%}forces liquidjs{%- endcomment -%}']]) {
    test(`${label}: hostile values inside and outside string literals round-trip`, () => {
      const cols = columns('s:text', 'doc:jsonb', 'tags:_text', 'n:int4', 'ok:bool')
      const composer = compose(
        { template: `${prefix}{"in": "<{{ row.s }}>", "out": {{ row.s }}, "docIn": "{{row.doc}}", "doc": {{row.doc}}, "tags": {{ row.tags }}, "n": {{row.n}}, "nIn": "{{row.n}}", "ok": {{row.ok}}}` },
        cols,
      )
      for (const s of HOSTILE_STRINGS) {
        const doc = { s, a: [s] }
        const parsed = JSON.parse(composer(context({ s, doc, tags: [s, null], n: -7, ok: true })))
        assert.deepEqual(parsed, {
          in: `<${s}>`,
          out: s,
          docIn: JSON.stringify(doc),
          doc,
          tags: [s, null],
          n: -7,
          nIn: '-7',
          ok: true,
        })
      }
    })

    test(`${label}: NULL is empty inside quotes and null outside; previous is null when unknown`, () => {
      const composer = compose(
        { template: `${prefix}{"a": "{{row.s}}", "b": {{row.s}}, "c": {{ previous.s }}, "d": "{{ previous.s }}", "t": "{{ event.type }}"}` },
        columns('s:text'),
      )
      assert.deepEqual(JSON.parse(composer(context({ s: null }))), { a: '', b: null, c: null, d: '', t: 'added' })
      assert.deepEqual(JSON.parse(composer(context({ s: 'new' }, { s: 'old' }))), { a: 'new', b: 'new', c: 'old', d: 'old', t: 'changed' })
    })

    test(`${label}: numeric and int8-beyond-2^53 strings stay JSON strings outside quotes (never rounded)`, () => {
      const composer = compose({ template: `${prefix}{"p": {{row.price}}, "pIn": "{{row.price}}", "big": {{row["id"]}}, "n": {{row.n}} }` }, columns('price:numeric', 'id:int8', 'n:float8'))
      const out = JSON.parse(composer(context({ price: '12.50', id: '9007199254740993', n: 'NaN' })))
      assert.deepEqual(out, { p: '12.50', pIn: '12.50', big: '9007199254740993', n: 'NaN' })
      assert.equal(JSON.parse(composer(context({ price: '1', id: 42, n: 1.5 }))).big, 42)
      assert.equal(JSON.parse(composer(context({ price: '1', id: 42, n: 1.5 }))).n, 1.5)
    })

    test(`${label}: an unbalanced template is a row error`, () => {
      const error = rowError(() => compose({ template: `${prefix}{"a": {{row.x}}` }, columns('x:int4'))(context({ x: 1 })))
      assert.equal(error.code, 'ROW_INVALID_JSON')
      assert.match(error.message, /^message is not valid JSON: /)
    })
  }

  test('filters: the escaping is applied to the result of the last user filter', () => {
    const composer = compose(
      {
        template: `{"up": "{{ row.s | upcase }}", "upOut": {{ row.s | upcase }}, "app": "{{ row.s | append: '"\\\\' }}", "len": {{ row.s | size }}, "json": {{ row.doc | json }}, "jsonIn": "{{ row.doc | json }}"}`,
      },
      columns('s:text', 'doc:jsonb'),
    )
    const doc = { k: 'v"' }
    assert.deepEqual(JSON.parse(composer(context({ s: 'a"b', doc }))), {
      up: 'A"B',
      upOut: 'A"B',
      app: 'a"b"\\', // Liquid unescapes `\\` in its quoted string
      len: 3,
      json: doc,
      jsonIn: JSON.stringify(doc),
    })
  })

  test('loops and captures: values are escaped once, where they land', () => {
    const composer = compose(
      {
        template: `{% capture full %}{{ row.first }} "{{ row.last }}"{% endcapture %}{"name": "{{ full }}", "tags": [{% for t in row.tags %}{% unless forloop.first %},{% endunless %}{{ t }}{% endfor %}]}`,
      },
      columns('first:text', 'last:text', 'tags:_text'),
    )
    const row = { first: 'Jo "J"', last: 'D\\oe', tags: ['a"', null, 'c\n'] }
    assert.deepEqual(JSON.parse(composer(context(row))), { name: 'Jo "J" "D\\oe"', tags: ['a"', null, 'c\n'] })
  })

  test('unknown columns, event fields and variables are all reported at once', () => {
    const issues = configIssues(() =>
      compose({ template: '{"a": "{{ row.emial }}", "b": {{ row["full name"] }}, "c": {{ previous.agee }}, "d": "{{ event.kind }}", "e": {{ rwo.age }}, "f": {{ row.age }}}' }, USERS),
    )
    assert.deepEqual(issues, [
      { path: 'syncs[0].message.template', message: 'column "emial" does not exist in public.users' },
      { path: 'syncs[0].message.template', message: 'column "full name" does not exist in public.users' },
      { path: 'syncs[0].message.template', message: 'column "agee" does not exist in public.users' },
      { path: 'syncs[0].message.template', message: 'event has no field "kind" (it has type, table, commitTime, lsn)' },
      { path: 'syncs[0].message.template', message: 'unknown variable "rwo"; a message template sees row, previous and event' },
    ])
  })

  test('Liquid syntax errors and unknown filters are start-up errors', () => {
    for (const template of ['{% if row.age %}{}', '{"a": {{ row.age | no_such_filter }}}', '{"a": {{ row.age }']) {
      const [issue] = configIssues(() => compose({ template }, USERS))
      assert.equal(issue.path, 'syncs[0].message.template')
      assert.match(issue.message, /^invalid Liquid template: /)
    }
  })

  test('templates cannot read files: a static include fails at start-up, a dynamic one per row (ROW_RENDER_FAILED)', () => {
    configIssues(() => compose({ template: `{"a": "{% include '/etc/hostname' %}"}` }, USERS))
    const composer = compose({ template: `{"a": "{% include row.full_name %}"}` }, USERS)
    const error = rowError(() => composer(context({ ...JOHN, full_name: '/etc/hostname' })))
    assert.equal(error.code, 'ROW_RENDER_FAILED')
    assert.match(error.message, /^template render failed: .*Failed to lookup/)
  })
})

describe('json and jsonb values (JsonText) keep the server\'s text in every mode', () => {
  const cols = columns('id:int4', 'doc:jsonb', 'raw:json')
  const DOC = '{"x": 1.10, "id": 12345678901234567890}'
  const RAW = '{"b": 1, "a": 1.10, "a": 12345678901234567890}'
  const ctx = () => context({ id: 7, doc: new JsonText(DOC), raw: new JsonText(RAW) })

  test('mapping and column splice the text', () => {
    assert.equal(compose({ mapping: { id: 'id', doc: 'doc', raw: 'raw' } }, cols)(ctx()), `{"id":7,"doc":${DOC},"raw":${RAW}}`)
    assert.equal(compose({ column: 'doc' }, cols)(ctx()), DOC)
    assert.equal(compose({ column: 'raw' }, cols)(ctx()), RAW)
  })

  test('templates splice it too; reading into the value sees it parsed', () => {
    assert.equal(compose({ template: '{"doc": {{row.doc}}, "s": "{{row.raw}}"}' }, cols)(ctx()), `{"doc": ${DOC}, "s": ${JSON.stringify(RAW)}}`)
    const liquid = '{% if row.id %}{"doc": {{row.doc}}, "j": {{row.raw | json}}, "x": {{row.doc.x}}, "big": "{{row.doc.id}}"}{% endif %}'
    assert.equal(compose({ template: liquid }, cols)(ctx()), `{"doc": ${DOC}, "j": ${RAW}, "x": 1.1, "big": "12345678901234567000"}`)
    assert.equal(compose({ template: '{"j": {{row.raw | json: 2}}}' }, cols)(ctx()), `{"j": ${JSON.stringify(JSON.parse(RAW), null, 2)}}`, 'json with indentation re-serialises, as asked')
  })
})
