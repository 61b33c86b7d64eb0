import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig, parseConfig } from '../../config/load-config.ts'
import { ConfigError } from '../../core/errors.ts'
import { redactSecrets, secretsOf } from '../../core/secrets.ts'

const dir = mkdtempSync(join(tmpdir(), 'rowcast-load-config-'))

function yaml(extra = '', kafka = '{ brokers: "127.0.0.1:9092" }'): string {
  return `
source: { postgres: { url: "\${DATABASE_URL}" } }
destination:
  kafka: ${kafka}
syncs:
  - name: users
    model: { table: public.users }
    topic: users
    message: { mapping: { id: id } }
${extra}`
}

describe('parseConfig', () => {
  test('interpolates ${VAR}, fills defaults and freezes the result deeply', () => {
    const config = parseConfig(yaml(), dir, { DATABASE_URL: 'postgres://u:pw-0001@db/app' })
    assert.equal(config.source.postgres.url, 'postgres://u:pw-0001@db/app')
    assert.equal(config.source.postgres.heartbeatIntervalMs, 10_000)
    assert.equal(config.debugger.bufferSize, 500)
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.syncs[0].model) && Object.isFrozen(config.alertThresholds))
  })

  test('is pure: the secrets it resolved come back with the config, and nothing is registered', () => {
    const password = 'kafka-pw-parse-only-1'
    const url = 'postgres://u:db-pw-parse-only-2@db/app'
    const config = parseConfig(yaml('', `{ brokers: "b:1", allowPlaintextCredentials: true, auth: { mechanism: plain, username: u, password: "${password}" } }`), dir, { DATABASE_URL: url })
    assert.deepEqual([...secretsOf(config)].sort(), [password, url].sort())
    assert.equal(redactSecrets(`${url} ${password}`), `${url} ${password}`)
  })

  test('a failed parse reports every problem with its path, and names its secrets on the error', () => {
    const url = 'postgres://u:db-pw-failed-3@db/app'
    try {
      parseConfig(yaml('limits: { maxInFlightMessages: -1 }\nalertThresholds: { nope: 1 }\nhttp: { port: "${MISSING_PORT}" }'), dir, { DATABASE_URL: url })
      assert.fail('expected a ConfigError')
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error))
      const paths = error.issues.map((i) => i.path)
      for (const path of ['http.port', 'limits.maxInFlightMessages', 'alertThresholds']) assert.ok(paths.includes(path), `${path} in ${paths.join(', ')}`)
      assert.match(error.issues.find((i) => i.path === 'http.port')?.message ?? '', /MISSING_PORT is not set/)
      assert.deepEqual(secretsOf(error), [url])
    }
  })
})

describe('loadConfig', () => {
  test('reads the file and resolves files named in it against the file\'s folder', () => {
    writeFileSync(join(dir, 'kafka-password'), 'from-a-file-4\n')
    const file = join(dir, 'rowcast.yaml')
    writeFileSync(file, yaml('', '{ brokers: "b:1", allowPlaintextCredentials: true, auth: { mechanism: plain, username: u, passwordFile: ./kafka-password } }'))
    const config = loadConfig(file, { DATABASE_URL: 'postgres://db/app' })
    assert.deepEqual(config.destination.kafka.auth, { mechanism: 'plain', username: 'u', password: 'from-a-file-4' })
    assert.ok(secretsOf(config).includes('from-a-file-4'))
  })

  test('an unreadable file is one problem, named by its path', () => {
    assert.throws(() => loadConfig(join(dir, 'missing.yaml')), (error: unknown) => error instanceof ConfigError && /cannot read the config file/.test(error.issues[0].message))
  })
})
