/** Shared fixtures of the message-composition tests: a model's columns and contexts of row changes. */
import type { ColumnInfo, ComposeContext, Row } from '../../core/changes.ts'

/** `name:typname` → ColumnInfo. */
export function columns(...specs: string[]): ColumnInfo[] {
  return specs.map((spec) => {
    const [name, typeName] = spec.split(':')
    return { name, typeName, typeOid: 0, nullable: true, ...(typeName.startsWith('_') ? { elementTypeName: typeName.slice(1) } : {}) }
  })
}

export function context(row: Row, previous: Row | null = null): ComposeContext {
  return {
    row,
    previous,
    event: { type: previous ? 'changed' : 'added', table: 'public.users', commitTime: '2024-05-01T12:00:00.000Z', lsn: '0/16B3748' },
  }
}

/** Values that break naive JSON templating. */
export const HOSTILE_STRINGS: readonly string[] = [
  'plain',
  '',
  'quote " inside',
  'back\\slash',
  'trailing backslash \\',
  'new\nline\r\n',
  'tab\tand\u0000nul\u001fctl',
  'line sep \u2028 para sep \u2029',
  'emoji 🎉👩‍👩‍👧 and ünïcödé 中文',
  'lone surrogate \ud800 end',
  '{{ row.x }} {% if %} liquid-ish',
  '"},{"injected": true',
  '</script>',
  '9007199254740993',
]
