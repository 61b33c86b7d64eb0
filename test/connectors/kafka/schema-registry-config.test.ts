import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { parseSchemaRegistryConfig } from '../../../connectors/kafka/schema-registry/config.ts'
import { ConfigError } from '../../../core/errors.ts'
import { redactSecrets, registerSecrets, secretsOf } from '../../../core/secrets.ts'

const dir = mkdtempSync(join(tmpdir(), 'rowcast-sr-config-'))
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'
writeFileSync(join(dir, 'ca.pem'), PEM)
writeFileSync(join(dir, 'not-a-cert.txt'), 'hello')

function issues(input: unknown): Array<{ path: string; message: string }> {
  try {
    parseSchemaRegistryConfig(input, dir)
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`)
    return [...error.issues]
  }
  assert.fail('expected a ConfigError')
}

describe('schemaRegistry config', () => {
  test('a URL alone: autoRegister on, trailing slash dropped', () => {
    assert.deepEqual(parseSchemaRegistryConfig({ url: 'http://127.0.0.1:18081/apis/ccompat/v7/' }, dir), {
      url: 'http://127.0.0.1:18081/apis/ccompat/v7',
      autoRegister: true,
    })
  })

  test('basic auth: the password is registered as a secret', () => {
    const config = parseSchemaRegistryConfig({ url: 'https://registry.internal:8081', auth: { username: 'sr', password: 'sr-password-123' }, autoRegister: false }, dir)
    assert.deepEqual(config.auth, { username: 'sr', password: 'sr-password-123' })
    assert.equal(config.autoRegister, false)
    assert.deepEqual(secretsOf(config), ['sr-password-123'])
    registerSecrets(secretsOf(config))
    assert.equal(redactSecrets('failed with sr-password-123'), 'failed with [redacted]')
  })

  test('ca: a path relative to the config file, or inline PEM', () => {
    const fromFile = parseSchemaRegistryConfig({ url: 'https://registry.internal:8081', ca: './ca.pem' }, dir)
    assert.equal(fromFile.ca, PEM)
    assert.equal(fromFile.caSource, join(dir, 'ca.pem'))
    const inline = parseSchemaRegistryConfig({ url: 'https://registry.internal:8081', ca: PEM }, dir)
    assert.equal(inline.ca, PEM)
    assert.equal(inline.caSource, 'the inline ca PEM')
  })

  test('every problem is reported with its path', () => {
    assert.deepEqual(
      issues({ url: 'http://registry:8081', ca: './missing.pem', extra: 1 }).map((i) => i.path),
      ['destination.schemaRegistry'], // unknown key: zod stops before the transform
    )
    const caIssues = issues({ url: 'http://registry:8081', ca: './missing.pem' })
    assert.deepEqual(caIssues.map((i) => i.path), ['destination.schemaRegistry.ca', 'destination.schemaRegistry.ca'])
    assert.match(caIssues[0].message, /https/)
    assert.match(caIssues[1].message, /cannot read CA file .*missing\.pem: ENOENT/)
    assert.match(issues({ url: 'https://r:8081', ca: './not-a-cert.txt' })[0].message, /holds no PEM certificate/)
    assert.equal(issues({ url: 'registry:8081' })[0].path, 'destination.schemaRegistry.url')
    assert.match(issues({ url: 'ftp://registry:8081' })[0].message, /http/)
    assert.match(issues({ url: 'https://user:pw@registry:8081' })[0].message, /credentials in auth/)
    assert.equal(issues({ url: 'https://r:8081', auth: { username: 'u' } })[0].path, 'destination.schemaRegistry.auth.password')
  })
})
