import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseBrokerList, parseKafkaConfig, splitBroker } from '../../../connectors/kafka/config.ts'
import { ConfigError } from '../../../core/errors.ts'
import { redactSecrets, registerSecrets, secretsOf } from '../../../core/secrets.ts'

const dir = mkdtempSync(join(tmpdir(), 'rowcast-kafka-config-'))
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'

function issues(input: unknown): Array<{ path: string; message: string }> {
  try {
    parseKafkaConfig(input, dir)
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`)
    return [...error.issues]
  }
  assert.fail('expected a ConfigError')
}

describe('parseBrokerList', () => {
  test('splits on commas, tolerates spaces and a trailing comma', () => {
    assert.deepEqual(parseBrokerList(' b1.example.com:9096 ,b2.example.com:9096, '), { brokers: ['b1.example.com:9096', 'b2.example.com:9096'], errors: [] })
  })

  test('accepts IPv4, IPv6 in brackets, underscores, and an array', () => {
    assert.deepEqual(parseBrokerList(['127.0.0.1:19092', '[::1]:9092', '[2001:db8::1]:9093,kafka_1:9092']).brokers, ['127.0.0.1:19092', '[::1]:9092', '[2001:db8::1]:9093', 'kafka_1:9092'])
  })

  test('names each bad item and says why', () => {
    const { brokers, errors } = parseBrokerList('good:9092,nocolon,::1:9092,host:99999,kafka://h:9092,[nothex]:9092,:9092,bad host:1')
    assert.deepEqual(brokers, ['good:9092'])
    assert.equal(errors.length, 7)
    assert.match(errors[0], /"nocolon".*port is missing/)
    assert.match(errors[1], /"::1:9092".*brackets/)
    assert.match(errors[2], /"host:99999".*1 to 65535/)
    assert.match(errors[3], /"kafka:\/\/h:9092".*scheme/)
    assert.match(errors[4], /"\[nothex\]:9092".*not an IPv6/)
    assert.match(errors[5], /":9092".*host is missing/)
    assert.match(errors[6], /"bad host:1".*not a valid host name/)
  })

  test('an empty list is an error', () => {
    assert.match(parseBrokerList(' , ').errors[0], /at least one broker/)
  })

  test('splitBroker undoes brackets', () => {
    assert.deepEqual(splitBroker('[::1]:9092'), { host: '::1', port: 9092 })
    assert.deepEqual(splitBroker('b1:9096'), { host: 'b1', port: 9096 })
  })
})

describe('parseKafkaConfig', () => {
  test('defaults clientId, no auth, no TLS', () => {
    assert.deepEqual(parseKafkaConfig({ brokers: 'localhost:9092' }, dir), { clientId: 'rowcast', brokers: ['localhost:9092'] })
  })

  test('scram-sha-512 with inline password; tls: true means the system trust store', () => {
    const config = parseKafkaConfig(
      { clientId: 'app', brokers: 'b1:9096,b2:9096', auth: { mechanism: 'scram-sha-512', username: 'u', password: 'p4ss-inline' }, tls: true, requestTimeoutMs: 5000 },
      dir,
    )
    assert.deepEqual(config, {
      clientId: 'app',
      brokers: ['b1:9096', 'b2:9096'],
      auth: { mechanism: 'scram-sha-512', username: 'u', password: 'p4ss-inline' },
      tls: {},
      requestTimeoutMs: 5000,
    })
    assert.deepEqual(secretsOf(config), ['p4ss-inline'], 'parsing hands the secret back')
    assert.equal(redactSecrets('pw=p4ss-inline'), 'pw=p4ss-inline', 'and registers nothing itself')
    registerSecrets(secretsOf(config))
    assert.equal(redactSecrets('pw=p4ss-inline'), 'pw=[redacted]', 'inline password registered as a secret')
  })

  test('passwordFile is read relative to baseDir, trailing newline trimmed, and registered', () => {
    writeFileSync(join(dir, 'secret.txt'), 'from-file-s3cret\n')
    const config = parseKafkaConfig({ brokers: 'b:1', allowPlaintextCredentials: true, auth: { mechanism: 'plain', username: 'u', passwordFile: './secret.txt' } }, dir)
    assert.deepEqual(config.auth, { mechanism: 'plain', username: 'u', password: 'from-file-s3cret' })
    registerSecrets(secretsOf(config))
    assert.equal(redactSecrets('x from-file-s3cret y'), 'x [redacted] y')
  })

  test('tls.ca as a relative file path or inline PEM, plus servername', () => {
    writeFileSync(join(dir, 'ca.pem'), PEM)
    assert.deepEqual(parseKafkaConfig({ brokers: 'b:1', tls: { ca: 'ca.pem', servername: 'kafka.internal' } }, dir).tls, { ca: PEM, caSource: join(dir, 'ca.pem'), servername: 'kafka.internal' })
    assert.equal(parseKafkaConfig({ brokers: 'b:1', tls: { ca: PEM } }, dir).tls?.ca, PEM)
  })

  test('aws-iam and aws-msk-iam', () => {
    writeFileSync(join(dir, 'aws-secret'), 'aws-secret-from-file\n')
    const iam = parseKafkaConfig({ brokers: 'b:1', tls: true, auth: { mechanism: 'aws-iam', authorizationIdentity: 'AIDA1', accessKeyId: 'AKIA1', secretAccessKeyFile: 'aws-secret' } }, dir)
    assert.deepEqual(iam.auth, { mechanism: 'aws-iam', authorizationIdentity: 'AIDA1', accessKeyId: 'AKIA1', secretAccessKey: 'aws-secret-from-file' })
    const msk = parseKafkaConfig({ brokers: 'b:1', tls: true, auth: { mechanism: 'aws-msk-iam', region: 'eu-west-1' } }, dir)
    assert.deepEqual(msk.auth, { mechanism: 'aws-msk-iam', region: 'eu-west-1' })
  })

  test('reports every problem with its path', () => {
    const found = issues({ brokers: 'ok:1,bad', clientId: '', extra: 1, tls: { ca: './missing.pem', verify: false } })
    const paths = found.map((i) => i.path)
    assert.ok(paths.includes('destination.kafka.clientId'), paths.join())
    assert.ok(found.some((i) => i.path === 'destination.kafka.brokers' && /"bad"/.test(i.message)), 'bad broker reported alongside')
    assert.ok(found.some((i) => i.path === 'destination.kafka' && /extra/.test(i.message)), 'unknown key named')
    assert.ok(found.some((i) => i.path === 'destination.kafka.tls' && /verify/.test(i.message)), 'no option to skip verification')
  })

  test('bad broker item is named', () => {
    assert.deepEqual(issues({ brokers: 'b1:9092,b2' }), [{ path: 'destination.kafka.brokers', message: '"b2" is not a broker address: the port is missing (write host:port)' }])
  })

  test('missing CA file names the resolved path', () => {
    const [issue] = issues({ brokers: 'b:1', tls: { ca: 'nope/ca.pem' } })
    assert.equal(issue.path, 'destination.kafka.tls.ca')
    assert.match(issue.message, new RegExp(`${join(dir, 'nope/ca.pem')}.*ENOENT`))
  })

  test('a file that is not PEM is refused', () => {
    writeFileSync(join(dir, 'not.pem'), 'hello')
    assert.match(issues({ brokers: 'b:1', tls: { ca: 'not.pem' } })[0].message, /no PEM certificate/)
  })

  test('unknown mechanism lists the valid ones', () => {
    const [issue] = issues({ brokers: 'b:1', auth: { mechanism: 'gssapi' } })
    assert.equal(issue.path, 'destination.kafka.auth.mechanism')
    assert.match(issue.message, /plain, scram-sha-256, scram-sha-512, aws-iam, aws-msk-iam/)
  })

  test('per-mechanism required fields are named', () => {
    assert.deepEqual(issues({ brokers: 'b:1', auth: { mechanism: 'scram-sha-256', username: 'u' } }), [
      { path: 'destination.kafka.auth.password', message: 'password (or passwordFile) is required for mechanism scram-sha-256' },
    ])
    assert.deepEqual(issues({ brokers: 'b:1', auth: { mechanism: 'plain', password: 'x' } }).map((i) => i.path), ['destination.kafka.auth.username'])
    const iam = issues({ brokers: 'b:1', auth: { mechanism: 'aws-iam', accessKeyId: 'A' } }).map((i) => i.path).sort()
    assert.deepEqual(iam, ['destination.kafka.auth.authorizationIdentity', 'destination.kafka.auth.secretAccessKey'])
    assert.deepEqual(issues({ brokers: 'b:1', auth: { mechanism: 'aws-msk-iam' } }).map((i) => i.path), ['destination.kafka.auth.region'])
    assert.match(issues({ brokers: 'b:1', auth: { mechanism: 'aws-msk-iam', region: 'us-east-1', accessKeyId: 'A' } })[0].message, /both accessKeyId and secretAccessKey/)
  })

  test('fields of another mechanism are unknown keys', () => {
    const [issue] = issues({ brokers: 'b:1', auth: { mechanism: 'plain', username: 'u', password: 'p', region: 'us-east-1' } })
    assert.equal(issue.path, 'destination.kafka.auth')
    assert.match(issue.message, /region/)
  })

  test('password and passwordFile together is an error; an unreadable file names itself', () => {
    assert.match(issues({ brokers: 'b:1', auth: { mechanism: 'plain', username: 'u', password: 'p', passwordFile: 'f' } })[0].message, /not both/)
    const [issue] = issues({ brokers: 'b:1', auth: { mechanism: 'plain', username: 'u', passwordFile: 'absent.txt' } })
    assert.equal(issue.path, 'destination.kafka.auth.passwordFile')
    assert.match(issue.message, /absent\.txt.*ENOENT/)
  })

  test('PLAIN, aws-iam and aws-msk-iam without TLS are refused, naming the path and why; SCRAM is allowed', () => {
    const cases = [
      [{ mechanism: 'plain', username: 'u', password: 'p' }, /PLAIN sends the password as clear text/],
      [{ mechanism: 'aws-iam', authorizationIdentity: 'i', accessKeyId: 'k', secretAccessKey: 's' }, /aws-iam sends the AWS secret access key as clear text/],
      [{ mechanism: 'aws-msk-iam', region: 'us-east-1' }, /aws-msk-iam sends a signed bearer token/],
    ] as const
    for (const [auth, why] of cases) {
      for (const tls of [undefined, false]) {
        const found = issues({ brokers: 'b:1', auth, ...(tls === undefined ? {} : { tls }) })
        assert.equal(found.length, 1, JSON.stringify(found))
        assert.equal(found[0].path, 'destination.kafka.auth.mechanism')
        assert.match(found[0].message, why)
        assert.match(found[0].message, /readable by anyone on the network path/)
        assert.match(found[0].message, /destination\.kafka\.tls/)
        assert.match(found[0].message, /destination\.kafka\.allowPlaintextCredentials: true/)
        assert.equal(found[0].message.includes("'p'") || found[0].message.includes('secretAccessKey: s'), false)
      }
      // explicit opt-in, or TLS: accepted
      assert.equal(parseKafkaConfig({ brokers: 'b:1', auth, allowPlaintextCredentials: true }, dir).auth?.mechanism, auth.mechanism)
      assert.equal(parseKafkaConfig({ brokers: 'b:1', auth, tls: true }, dir).auth?.mechanism, auth.mechanism)
    }
    for (const mechanism of ['scram-sha-256', 'scram-sha-512'] as const) {
      assert.equal(parseKafkaConfig({ brokers: 'b:1', auth: { mechanism, username: 'u', password: 'p' } }, dir).auth?.mechanism, mechanism)
    }
  })

  test('allowPlaintextCredentials must be a boolean and is not carried into the parsed config', () => {
    assert.equal(issues({ brokers: 'b:1', allowPlaintextCredentials: 'yes' })[0].path, 'destination.kafka.allowPlaintextCredentials')
    assert.deepEqual(parseKafkaConfig({ brokers: 'b:1', allowPlaintextCredentials: false }, dir), { clientId: 'rowcast', brokers: ['b:1'] })
  })
})
