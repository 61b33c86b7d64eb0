import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseConfig } from '../../config/load-config.ts'
import { ConfigError, type ConfigIssue } from '../../core/errors.ts'

const dir = mkdtempSync(join(tmpdir(), 'rowcast-config-sr-'))
writeFileSync(join(dir, 'users.avsc'), '{"type": "record", "name": "users", "fields": [{"name": "id", "type": "long"}]}')

function yaml(message: string, registry = '  schemaRegistry: { url: "http://127.0.0.1:18081/apis/ccompat/v7" }'): string {
  return `
source: { postgres: { url: "postgres://u:p@127.0.0.1:5432/db" } }
destination:
  kafka: { brokers: "127.0.0.1:9092" }
${registry}
syncs:
  - name: users
    model: { table: public.users }
    topic: users
    message: ${message}
`
}

function issues(text: string): ConfigIssue[] {
  try {
    parseConfig(text, dir)
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error))
    return [...error.issues]
  }
  assert.fail('expected a ConfigError')
}

describe('config: message.format avro | json-schema and destination.schemaRegistry', () => {
  test('a mapping needs no schema file; a schema file is resolved against the config folder', () => {
    const config = parseConfig(yaml('{ format: avro, mapping: { id: id } }'), dir)
    assert.equal(config.destination.schemaRegistry?.url, 'http://127.0.0.1:18081/apis/ccompat/v7')
    assert.equal(config.destination.schemaRegistry?.autoRegister, true)
    parseConfig(yaml(`{ format: avro, schema: users.avsc, template: '{"id": {{row.id}}}' }`), dir)
  })

  test('avro or json-schema without destination.schemaRegistry names that path', () => {
    assert.deepEqual(issues(yaml('{ format: json-schema, mapping: { id: id } }', '')), [
      { path: 'destination.schemaRegistry', message: 'required by syncs[0].message.format json-schema: add destination.schemaRegistry.url' },
    ])
  })

  test('a template or column message needs a schema file, which must exist; json takes none', () => {
    assert.deepEqual(issues(yaml(`{ format: avro, template: '{"id": {{row.id}}}' }`)).map((i) => i.path), ['syncs[0].message.schema'])
    const missing = issues(yaml('{ format: avro, schema: nope.avsc, column: doc }'))
    assert.deepEqual(missing.map((i) => i.path), ['syncs[0].message.schema'])
    assert.match(missing[0].message, /nope\.avsc does not exist/)
    assert.deepEqual(issues(yaml('{ format: json, schema: users.avsc, mapping: { id: id } }')).map((i) => i.path), ['syncs[0].message.schema'])
  })

  test('registry settings are checked with their paths', () => {
    assert.deepEqual(issues(yaml('{ format: avro, mapping: { id: id } }', '  schemaRegistry: { url: "registry:8081", verify: false }')).map((i) => i.path), ['destination.schemaRegistry'])
    assert.deepEqual(issues(yaml('{ format: avro, mapping: { id: id } }', '  schemaRegistry: { url: "not a url" }')).map((i) => i.path), ['destination.schemaRegistry.url'])
  })
})
