import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseConfig } from '../../config/load-config.ts'
import { diffConfig } from '../../daemon/config-diff.ts'

const config = (syncs: string, clientId = 'rowcast') =>
  parseConfig(`
source: { postgres: { url: "postgres://u:secret@127.0.0.1:5432/db" } }
destination: { kafka: { clientId: ${clientId}, brokers: "127.0.0.1:9092" } }
syncs:
${syncs}
`, process.cwd())

const sync = (name: string, topic = name) => `  - { name: ${name}, model: { table: public.${name} }, topic: ${topic}, message: { column: doc } }\n`

describe('diffConfig', () => {
  test('added, changed and removed syncs by name; unchanged ones in neither list', () => {
    const diff = diffConfig(config(sync('a') + sync('b') + sync('c')), config(sync('b', 'other') + sync('c') + sync('d')))
    assert.deepEqual(diff.outside, [])
    assert.deepEqual(diff.added.map((s) => s.name), ['d'])
    assert.deepEqual(diff.changed.map((s) => s.name), ['b'])
    assert.deepEqual(diff.removed, ['a'])
  })

  test('the same config written in another key order is no change', () => {
    const reordered = `  - { topic: a, message: { column: doc }, model: { table: public.a }, name: a }\n`
    const diff = diffConfig(config(sync('a')), config(reordered))
    assert.deepEqual([diff.outside, diff.added, diff.changed, diff.removed], [[], [], [], []])
  })

  test('a change outside syncs is named by its section', () => {
    assert.deepEqual(diffConfig(config(sync('a')), config(sync('a'), 'other')).outside, ['destination'])
  })
})
