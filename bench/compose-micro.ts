/**
 * Micro-benchmark of message composition: renders/s on one core for mapping, the fast template path and liquidjs.
 * Not a test; run with `node --import tsx bench/compose-micro.ts`.
 */
import { compileComposer } from '../operators/compose-message.ts'
import type { Composer } from '../operators/compose-message.ts'
import type { ColumnInfo, ComposeContext } from '../core/changes.ts'

const COLUMNS: ColumnInfo[] = [
  ['id', 'int8'], ['full_name', 'text'], ['age', 'int4'], ['email_address', 'text'], ['phone_number', 'text'],
  ['balance', 'numeric'], ['tags', '_text'], ['profile', 'jsonb'], ['updated_at', 'timestamptz'],
].map(([name, typeName]) => ({ name, typeName, typeOid: 0, nullable: true }))

const TEMPLATE = `{
  "id": {{row.id}},
  "name": "{{row.full_name}}",
  "age": {{row.age}},
  "balance": {{row.balance}},
  "contact_info": [
    { "type": "email", "value": "{{row.email_address}}" },
    { "type": "phone", "value": "{{row.phone_number}}" }
  ],
  "tags": {{row.tags}},
  "profile": {{row.profile}},
  "updatedAt": "{{row.updated_at}}",
  "event": "{{event.type}}"
}`

const CASES: Record<string, Composer> = {
  mapping: compileComposer(
    { format: 'json', mapping: { id: 'id', name: 'full_name', age: 'age', email: 'email_address', phone: 'phone_number', balance: 'balance', tags: 'tags', profile: 'profile', updatedAt: 'updated_at' } },
    COLUMNS,
    'bench',
  ),
  'template (fast path)': compileComposer({ format: 'json', template: TEMPLATE }, COLUMNS, 'bench'),
  'template (liquidjs)': compileComposer({ format: 'json', template: `{%- if true -%}${TEMPLATE}{%- endif -%}` }, COLUMNS, 'bench'),
}

const contexts: ComposeContext[] = Array.from({ length: 1024 }, (_, i) => ({
  row: {
    id: 1000 + i,
    full_name: i % 7 === 0 ? 'Zoë "Z" O\'Brien\n' : `User ${i}`,
    age: 20 + (i % 50),
    email_address: `user${i}@example.com`,
    phone_number: i % 5 === 0 ? null : '+14158675309',
    balance: `${i}.25`,
    tags: ['a', 'b', String(i)],
    profile: { plan: 'pro', seats: i % 10, flags: { beta: i % 2 === 0 } },
    updated_at: '2024-05-01T12:00:00.000Z',
  },
  previous: null,
  event: { type: 'changed', table: 'public.users', commitTime: '2024-05-01T12:00:00.000Z', lsn: '0/16B3748' },
}))

for (const [name, compose] of Object.entries(CASES)) {
  let sink = 0
  const run = (ms: number): number => {
    const start = performance.now()
    let n = 0
    while (performance.now() - start < ms) {
      for (let i = 0; i < 256; i++) sink += compose(contexts[(n + i) & 1023]).length
      n += 256
    }
    return n / ((performance.now() - start) / 1000)
  }
  run(300) // warm-up
  const rate = run(1500)
  console.log(`${name.padEnd(22)} ${Math.round(rate).toLocaleString('en-US').padStart(12)} renders/s  (${sink > 0 ? 'ok' : '-'})`)
}
