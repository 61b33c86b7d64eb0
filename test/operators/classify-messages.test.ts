import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lastValueFrom, of } from 'rxjs'
import type { SourceChange } from '../../core/changes.ts'
import { classifyMessages, messageChange } from '../../operators/classify-messages.ts'
import { syncConfigSchema } from '../../config/root-schema.ts'
import { resolveMessagesSync } from '../../pipeline/resolve-messages-sync.ts'
import { ConfigError } from '../../core/errors.ts'
import { JsonText } from '../../core/json-text.ts'

const message = (prefix: string, content: string | Buffer, transactional = true, lsn = '0/16B3748'): SourceChange => ({
  op: 'message', table: prefix, row: { prefix, content: typeof content === 'string' ? Buffer.from(content) : content, transactional }, previous: null, previousIsFull: false, lsn,
})

test('a logical message is an added change: prefix, suffix after the model\'s prefix, content as text, no key', () => {
  const change = messageChange(message('orders.created', '{"id": 7}', false), { prefix: 'orders.', fields: [], json: false })
  assert.deepEqual(change, { type: 'added', table: 'orders.created', row: { prefix: 'orders.created', suffix: 'created', content: '{"id": 7}', transactional: false }, previous: null, key: null, lsn: '0/16B3748' })
})

test('fields of a JSON object content become columns: strings as they are, other values as JSON, absent ones null', () => {
  const change = messageChange(message('orders.x', '{"topic": "t1", "key": 42, "nested": {"a": [1]}, "none": null}'), { prefix: 'orders.', fields: ['topic', 'key', 'nested', 'none', 'absent'], json: false })
  assert.equal(change.invalid, undefined)
  assert.deepEqual(change.row, { prefix: 'orders.x', suffix: 'x', content: '{"topic": "t1", "key": 42, "nested": {"a": [1]}, "none": null}', transactional: true, topic: 't1', key: '42', nested: '{"a":[1]}', none: null, absent: null })
})

test('content that is not JSON (or not an object) when fields are read or a message composed, or not UTF-8, is invalid, naming prefix and LSN', () => {
  for (const content of ['[1, 2]', '"text"', 'null']) {
    const change = messageChange(message('o.e', content), { prefix: 'o.', fields: ['key'], json: false })
    assert.equal(change.invalid, 'the logical message with prefix "o.e" at LSN 0/16B3748 is not a JSON object, and model.messages.fields (key) are read from it', content)
    assert.equal(change.row.key, null)
  }
  assert.match(messageChange(message('o.e', 'not json'), { prefix: 'o.', fields: ['key'], json: false }).invalid ?? '', /^the logical message with prefix "o\.e" at LSN 0\/16B3748 is not JSON \(.*\), as model\.messages\.fields needs$/)
  assert.match(messageChange(message('o.e', '{"a":'), { prefix: 'o.', fields: [], json: true }).invalid ?? '', /is not JSON \(.*\), as the sync's message needs$/)
  assert.equal(messageChange(message('o.e', 'not json'), { prefix: 'o.', fields: [], json: false }).invalid, undefined, 'sent as it is: any UTF-8 text goes')
  const json = messageChange(message('o.e', '[1, 20000000000000000001]'), { prefix: 'o.', fields: [], json: true })
  assert.ok(json.row.content instanceof JsonText)
  assert.equal(json.row.content.text, '[1, 20000000000000000001]', 'the text as emitted')
  const binary = messageChange(message('o.e', Buffer.from([0xff, 0xfe, 0x00])), { prefix: 'o.', fields: [], json: false })
  assert.equal(binary.invalid, 'the logical message with prefix "o.e" at LSN 0/16B3748 is not UTF-8 text (3 bytes)')
})

test('classifyMessages keeps the batch (and its commit position) and only the messages in it', async () => {
  const insert: SourceChange = { op: 'insert', table: 'public.t', row: { id: 1 }, previous: null, previousIsFull: false, lsn: '0/1' }
  const out = await lastValueFrom(of({ items: [insert, message('a.b', 'x')], commitLsn: 9n, commitTime: 1, txId: 3 }).pipe(classifyMessages({ prefix: 'a.', fields: [], json: false })))
  assert.equal(out.commitLsn, 9n)
  assert.equal(out.txId, 3)
  assert.deepEqual(out.items.map((c) => c.row.suffix), ['b'])
})

const sync = (over: Record<string, unknown>) => syncConfigSchema.parse({ name: 's', model: { messages: { prefix: 'orders.' } }, topic: 't', ...over })

test('config: a messages model, its fields, and what names a column of a message', () => {
  assert.equal(sync({}).message, undefined)
  const resolved = resolveMessagesSync(sync({ model: { messages: { prefix: 'orders.', fields: ['topic', 'key'] } }, topic: { column: 'topic' }, key: 'key', headers: { p: 'prefix' } }), 0)
  assert.deepEqual(resolved.model.columns, ['prefix', 'suffix', 'content', 'transactional', 'topic', 'key'])
  assert.equal(resolved.publication.table, null)
  assert.equal(resolved.composer({ row: { content: 'any text' }, previous: null, event: { type: 'added', table: 'x', commitTime: '', lsn: '0/1' } }), 'any text', 'without message: the content as it is')
  const composed = resolveMessagesSync(sync({ message: { template: '{"event": "{{row.suffix}}", "body": {{row.content}}}' } }), 0)
  assert.equal(composed.columns.find((c) => c.name === 'content')?.typeName, 'json')
  assert.equal(composed.composer({ row: { suffix: 'created', content: new JsonText('{"a": 1.10}') }, previous: null, event: { type: 'added', table: 'x', commitTime: '', lsn: '0/1' } }), '{"event": "created", "body": {"a": 1.10}}')
  assert.throws(() => resolveMessagesSync(sync({ key: 'id', topic: { column: 'topic' }, model: { messages: { prefix: 'o.', fields: ['content'] } } }), 2), (error: unknown) => {
    assert.ok(error instanceof ConfigError)
    assert.deepEqual(error.issues.map((i) => i.path), ['syncs[2].model.messages.fields[0]', 'syncs[2].key', 'syncs[2].topic.column'])
    return true
  })
  for (const [model, message] of [
    [{ table: 'public.t', messages: { prefix: 'o.' } }, /exactly one of table, messages/],
    [{}, /exactly one of table, messages/],
    [{ messages: { prefix: 'o.' }, filter: 'id > 1' }, /filter is an option of a table model/],
    [{ messages: { prefix: 'rowcast_x' } }, /rowcast's own/],
    [{ messages: { prefix: 'row' } }, /rowcast's own/],
  ] as const) {
    const parsed = syncConfigSchema.safeParse({ name: 's', model, topic: 't', message: { column: 'c' } })
    assert.ok(!parsed.success)
    assert.match(parsed.error.issues.map((i) => i.message).join('\n'), message)
  }
})
