import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { rootConfigSchema, syncConfigSchema } from '../../config/root-schema.ts'

const sync = { name: 'users', model: { table: 'public.users' }, topic: 'users', message: { mapping: { id: 'id' } } }

describe('root schema', () => {
  test('operators: a bare path runs at the end; { module, after } names the step it follows', () => {
    const parsed = syncConfigSchema.parse({ ...sync, operators: ['./end.ts', { module: './mask.ts', after: 'composeMessage' }] })
    assert.deepEqual(parsed.operators, [
      { module: './end.ts', after: 'handleRowErrors' },
      { module: './mask.ts', after: 'composeMessage' },
    ])
  })

  test('operators: an unknown step or key is reported at its path', () => {
    const result = syncConfigSchema.safeParse({ ...sync, operators: [{ module: './x.ts', after: 'compose' }, { module: './y.ts', before: 'classify' }] })
    assert.equal(result.success, false)
    const issues = result.error?.issues.map((i) => i.path.join('.')) ?? []
    assert.deepEqual(issues, ['operators.0.after', 'operators.1'])
    assert.match(result.error?.issues[0].message ?? '', /composeMessage/)
  })

  test('component slices keep their own defaults; the cross-field checks run on the whole', () => {
    const schema = rootConfigSchema(process.cwd(), () => undefined)
    const config = schema.parse({ source: { postgres: { url: 'postgres://db/app' } }, destination: { kafka: { brokers: 'b:1' } }, syncs: [sync], http: {} })
    assert.deepEqual(config.http, { port: 9464, host: '127.0.0.1' })
    assert.deepEqual(config.alerts, [])
    assert.equal(config.alertThresholds.rejectedRows, 1)
    const twice = schema.safeParse({ source: { postgres: { url: 'postgres://db/app' } }, destination: { kafka: { brokers: 'b:1' } }, syncs: [sync, sync] })
    assert.deepEqual(twice.error?.issues.map((i) => i.path.join('.')), ['syncs.1.name'])
  })

  test('the secrets a component resolves go to onSecret', () => {
    const heard: string[] = []
    rootConfigSchema(process.cwd(), (value) => heard.push(value)).parse({
      source: { postgres: { url: 'postgres://db/app' } },
      destination: { kafka: { brokers: 'b:1', auth: { mechanism: 'scram-sha-256', username: 'u', password: 'kafka-secret' } }, schemaRegistry: { url: 'http://sr:8081', auth: { username: 'u', password: 'sr-secret' } } },
      syncs: [sync],
    })
    assert.deepEqual(heard, ['kafka-secret', 'sr-secret'])
  })
})
