import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseConfig } from '../../config/load-config.ts'
import { ConfigError } from '../../core/errors.ts'

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
  test('defaults: dedicated, and the group slot rowcast_group parking after 30 s', () => {
    const parsed = parseConfig(config('  - { name: a, model: { table: t }, topic: a, message: { mapping: { id: id } } }\n'), process.cwd(), env)
    assert.equal(parsed.syncs[0].stream, 'dedicated')
    assert.deepEqual(parsed.source.postgres.streamGroup, { slot: 'rowcast_group', parkAfterMs: 30_000 })
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
