import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseConfig } from '../../config/load-config.ts'
import { ConfigError } from '../../core/errors.ts'
import { describeStreams } from '../../config/stream-mode.ts'
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
  test('defaults: shared, and the group slot rowcast_group parking after 30 s', () => {
    const parsed = parseConfig(config('  - { name: a, model: { table: t }, topic: a, message: { mapping: { id: id } } }\n'), process.cwd(), env)
    assert.equal(parsed.syncs[0].stream, 'shared')
    assert.deepEqual(parsed.source.postgres.streamGroup, { slot: 'rowcast_group', parkAfterMs: 30_000 })
  })

  test('unset, a sync that cannot share reads its own slot: its own slot name, logical messages, decoding on a standby, another row filter on a shared table', () => {
    const unset = (name: string, model: string, extra = '') => `  - { name: ${name}, model: ${model}, topic: ${name}, message: { mapping: { id: id } }${extra} }\n`
    const parsed = parseConfig(config(
      unset('plain', '{ table: public.users }') +
      unset('named', '{ table: public.orders }', ', slot: mine') +
      '  - { name: msgs, model: { messages: { prefix: "app." } }, topic: msgs }\n' +
      unset('filtered', '{ table: public.users, filter: "id > 1" }') +
      unset('explicit', '{ table: public.items }', ', stream: dedicated'),
    ), process.cwd(), env)
    assert.deepEqual(parsed.syncs.map((s) => [s.name, s.stream]), [['plain', 'shared'], ['named', 'dedicated'], ['msgs', 'dedicated'], ['filtered', 'dedicated'], ['explicit', 'dedicated']])
    assert.deepEqual(describeStreams(parsed, slotName), [
      'plain: shared (stream group "rowcast_group")',
      'named: dedicated (slot "mine": it names a slot of its own)',
      'msgs: dedicated (slot "rowcast_msgs": a sync of logical messages)',
      'filtered: dedicated (slot "rowcast_filtered": shared syncs read its table with another row filter)',
      'explicit: dedicated (slot "rowcast_explicit": stream: dedicated)',
    ])
    // The first of two syncs of one table with different filters shares; an explicit shared one takes precedence.
    const first = parseConfig(config(unset('f1', '{ table: public.users, filter: "id > 1" }') + sync('s2')), process.cwd(), env)
    assert.deepEqual(first.syncs.map((s) => s.stream), ['dedicated', 'shared'])
    const standby = parseConfig(config(unset('a', '{ table: public.users }'), ', primaryUrl: "postgres://u:pw@primary/app"'), process.cwd(), env)
    assert.equal(standby.syncs[0].stream, 'dedicated')
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
