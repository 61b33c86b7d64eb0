import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseConfig } from '../../config/load-config.ts'
import { ConfigError } from '../../core/errors.ts'
import { DEFAULT_STREAM, describeStreams, resolveStreams } from '../../config/stream-mode.ts'
import { syncConfigSchema } from '../../config/root-schema.ts'
import { slotName } from '../../pipeline/resolve-sync.ts'

const env = { DATABASE_URL: 'postgres://u:pw@db/app' }

function config(syncs: string, postgres = ''): string {
  return `
source: { postgres: { url: "\${DATABASE_URL}"${postgres} } }
destination:
  kafka: { brokers: "127.0.0.1:9092" }
syncs:
${syncs}`
}

function sync(name: string, extra = ''): string {
  return `  - { name: ${name}, stream: shared, model: { table: public.users${extra} }, topic: ${name}, message: { mapping: { id: id } } }\n`
}

function issuesOf(yaml: string): string[] {
  try {
    parseConfig(yaml, process.cwd(), env)
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((i) => `${i.path}: ${i.message}`)
    throw error
  }
  return []
}

describe('stream: shared', () => {
  test('defaults: shared (the stream group rowcast_group, parking after 30 s); dedicated only when asked for', () => {
    const parsed = parseConfig(config('  - { name: a, model: { table: t }, topic: a, message: { mapping: { id: id } } }\n  - { name: b, stream: dedicated, model: { table: u }, topic: b, message: { mapping: { id: id } } }\n'), process.cwd(), env)
    assert.equal(DEFAULT_STREAM, 'shared')
    assert.equal(parsed.syncs[0].stream, 'shared')
    assert.equal(parsed.syncs[1].stream, 'dedicated')
    assert.deepEqual(parsed.source.postgres.streamGroup, { slot: 'rowcast_group', parkAfterMs: 30_000 })
  })

  test('unset and preferring shared: shared, except a sync with its own slot name, of logical messages, on a standby, or of a shared table under another row filter', () => {
    const syncs = [
      { name: 'plain', model: { table: 'public.users' } },
      { name: 'named', model: { table: 'public.orders' }, slot: 'mine' },
      { name: 'msgs', model: { messages: { prefix: 'app.' } } },
      { name: 'filtered', model: { table: 'public.users', filter: 'id > 1' } },
      { name: 'explicit', model: { table: 'public.items' }, stream: 'dedicated' },
      { name: 'same', model: { table: 'public.users' } },
    ].map((sync) => syncConfigSchema.parse({ topic: sync.name, ...(sync.model.messages === undefined ? { message: { mapping: { id: 'id' } } } : {}), ...sync }))
    const resolved = resolveStreams(syncs, false, 'shared')
    assert.deepEqual(resolved.map((s) => [s.name, s.stream]), [['plain', 'shared'], ['named', 'dedicated'], ['msgs', 'dedicated'], ['filtered', 'dedicated'], ['explicit', 'dedicated'], ['same', 'shared']])
    assert.deepEqual(resolveStreams(syncs, true, 'shared').map((s) => s.stream), syncs.map(() => 'dedicated'), 'decoding on a standby: all dedicated')
    // An explicit shared sync claims its table's filter first; then the first unset one of a table does.
    const shared = syncConfigSchema.parse({ name: 's', model: { table: 'public.users' }, topic: 's', stream: 'shared', message: { mapping: { id: 'id' } } })
    assert.deepEqual(resolveStreams([syncs[3]!, shared], false, 'shared').map((s) => s.stream), ['dedicated', 'shared'])
    assert.deepEqual(resolveStreams(syncs, false, 'dedicated').map((s) => s.stream), syncs.map(() => 'dedicated'))
  })

  test('the resolved stream of each sync, as rowcast validate and the start-up log say it', () => {
    const yaml = config(sync('a') +
      '  - { name: b, slot: mine, model: { table: public.orders }, topic: b, message: { mapping: { id: id } } }\n' +
      '  - { name: c, model: { messages: { prefix: "app." } }, topic: c }\n' +
      '  - { name: d, stream: dedicated, model: { table: public.users, filter: "id > 1" }, topic: d, message: { mapping: { id: id } } }\n')
    assert.deepEqual(describeStreams(parseConfig(yaml, process.cwd(), env), slotName), [
      'a: shared (stream group "rowcast_group")',
      'b: dedicated (slot "mine": it names a slot of its own)',
      'c: dedicated (slot "rowcast_c": a sync of logical messages)',
      'd: dedicated (slot "rowcast_d": shared syncs read its table with another row filter)',
    ])
    const standby = parseConfig(config('  - { name: a, stream: dedicated, model: { table: public.users }, topic: a, message: { mapping: { id: id } } }\n', ', primaryUrl: "postgres://u:pw@primary/app"'), process.cwd(), env)
    assert.deepEqual(describeStreams(standby, slotName), ['a: dedicated (slot "rowcast_a": decoding on a standby (source.postgres.primaryUrl))'])
  })

  test('syncs of one table in a group agree on the row filter', () => {
    assert.deepEqual(issuesOf(config(sync('a') + sync('b'))), [])
    assert.deepEqual(issuesOf(config(sync('a', ', filter: "id > 1"') + sync('b', ', filter: "id > 1"'))), [])
    const issues = issuesOf(config(sync('a', ', filter: "id > 1"') + sync('b')))
    assert.equal(issues.length, 1)
    assert.match(issues[0]!, /^syncs\[1\]\.model\.filter: syncs\[0\] reads public\.users through the same stream group with another row filter/)
  })

  test('a shared sync names no slot of its own, and is refused when decoding on a standby', () => {
    const issues = issuesOf(config(sync('a').replace('stream: shared,', 'stream: shared, slot: mine,'), ', primaryUrl: "postgres://u:pw@primary/app"'))
    assert.deepEqual(issues.map((i) => i.split(':')[0]), ['syncs[0].stream', 'syncs[0].slot'])
  })
})
