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
    assert.deepEqual([...new Set(secretsOf(config))].sort(), [password, ':db-pw-parse-only-2@', 'db-pw-parse-only-2'].sort())
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
      assert.deepEqual(secretsOf(error), [':db-pw-failed-3@', 'db-pw-failed-3'], 'the URL\'s password, from the field the schema marks')
    }
  })
})

describe('secrets are the fields the schema marks', () => {
  const fields = `
http: { port: 0, debuggerToken: "inline-debugger-token-01" }
destination:
  kafka: { brokers: "b:1" }
  schemaRegistry: { url: "https://reg:8081", auth: { username: u, password: "\${REGISTRY_PW}" } }
alerts:
  - { type: slack, url: "https://hooks.slack.com/services/T0/B0/slack-secret-03" }
  - { type: pagerduty, routingKey: "pagerduty-key-04" }
  - { type: webhook, url: "https://hook:webhook-url-pw-02@hooks.example.com/x", headers: { Authorization: "Bearer \${HOOK_TOKEN}" } }
  - { type: email, smtp: "smtps://mailer:smtp-pw-05@mail:465", to: [ops@example.com] }
`
  const text = `
source: { postgres: { url: "postgres://u:inline-db-pw-06@db/app" } }
${fields.replace('destination:', 'destination:')}
syncs:
  - name: users
    model: { table: public.users }
    topic: users
    key: \${KEY_COLUMN}
    message: { mapping: { id: id } }
`

  test('inline or from the environment, each marked field is a secret; a sync\'s key: ${VAR} (a column) is not', () => {
    const config = parseConfig(text, dir, { REGISTRY_PW: 'registry-pw-07', HOOK_TOKEN: 'hook-token-08', KEY_COLUMN: 'customer_ref' })
    const secrets = new Set(secretsOf(config))
    for (const value of ['inline-debugger-token-01', 'webhook-url-pw-02', 'registry-pw-07', 'https://hooks.slack.com/services/T0/B0/slack-secret-03', 'pagerduty-key-04', 'Bearer hook-token-08', 'smtp-pw-05', 'inline-db-pw-06']) {
      assert.ok(secrets.has(value), `${value} is registered (${[...secrets].join(', ')})`)
    }
    assert.equal(secrets.has('customer_ref'), false, 'a column name is not a secret')
    assert.equal(config.syncs[0].key, 'customer_ref')
  })

  test('a short URL password is scrubbed only within its URL\'s credentials', () => {
    const config = parseConfig(text.replace('inline-db-pw-06', 'rowcast'), dir, { REGISTRY_PW: 'registry-pw-07', HOOK_TOKEN: 'hook-token-08', KEY_COLUMN: 'id' })
    assert.ok(secretsOf(config).includes(':rowcast@'))
    assert.equal(secretsOf(config).includes('rowcast'), false)
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
