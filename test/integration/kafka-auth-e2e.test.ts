/**
 * The daemon end to end over each SASL mechanism and listener: a row change reaches a topic through
 * PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 on SASL_PLAINTEXT and on SASL_SSL (with the stack's CA).
 * And a planted secret never shows in the output of `validate`, `check` or `run`.
 */
import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parseConfig } from '../../config/load-config.ts'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, runDaemon, sql, stack, streaming, TEST_GROUP, uniqueName } from '../support/harness.ts'

const run = promisify(execFile)

describe('SASL end to end through the daemon', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  const cases = [
    ['plain', 'KAFKA_PLAIN'],
    ['scram-sha-256', 'KAFKA_SCRAM256'],
    ['scram-sha-512', 'KAFKA_SCRAM512'],
  ] as const
  for (const [mechanism, prefix] of cases) {
    for (const listener of ['SASL_PLAINTEXT', 'SASL_SSL'] as const) {
      test(`${mechanism} over ${listener}: a row change reaches its topic`, async () => {
        const table = uniqueName('auth')
        await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, name text)`)
        await createTopics(env, [table], 1)
        // PLAIN without TLS sends the password in clear: allowed only when the config says so.
        const tls = listener === 'SASL_SSL' ? `\n    tls: { ca: ${env.KAFKA_CA_FILE} }` : mechanism === 'plain' ? '\n    allowPlaintextCredentials: true' : ''
        const config = parseConfig(`
source: { postgres: { url: ${env.ROWCAST_PG_URL}, heartbeatIntervalMs: 1000, streamGroup: { slot: ${TEST_GROUP} } } }
destination:
  kafka:
    brokers: "${env[`KAFKA_BOOTSTRAP_${listener}`]}"
    auth: { mechanism: ${mechanism}, username: ${env[`${prefix}_USER`]}, password: ${env[`${prefix}_PASSWORD`]} }${tls}
syncs:
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    message: { mapping: { id: id, name: name } }
`, process.cwd())
        const daemon = await runDaemon(config)
        const consumer = await consume(env, [table])
        try {
          await streaming(daemon)
          await sql(env, `INSERT INTO ${table} VALUES (1, '${mechanism}')`)
          const [message] = await consumer.waitFor(1)
          assert.deepEqual(JSON.parse(message.value), { id: 1, name: mechanism })
        } finally {
          await consumer.stop()
          await daemon.stop()
        }
      })
    }
  }

  test('a planted secret never appears in validate, check or run output', async () => {
    const table = uniqueName('secret')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY)`)
    const planted = `planted-${uniqueName('pw')}-secret`
    const dir = mkdtempSync(join(tmpdir(), 'rowcast-secret-'))
    const file = join(dir, 'rowcast.yaml')
    writeFileSync(file, `
source:
  postgres:
    url: \${DATABASE_URL}
    streamGroup: { slot: ${TEST_GROUP} }
destination:
  kafka:
    brokers: "${env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT}"
    auth:
      mechanism: scram-sha-512
      username: ${env.KAFKA_SCRAM512_USER}
      password: \${KAFKA_PASSWORD}
http:
  port: 0
  debuggerToken: \${ROWCAST_DEBUGGER_TOKEN}
syncs:
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}-missing
    message: { mapping: { id: id, nope: no_such_column } }
`)
    const childEnv = { ...process.env, DATABASE_URL: env.ROWCAST_PG_URL, KAFKA_PASSWORD: planted, ROWCAST_DEBUGGER_TOKEN: `${planted}-token` }
    const cli = (args: string[]) =>
      run(process.execPath, ['bin/rowcast.mjs', ...args, '--config', file], { env: childEnv, timeout: 60_000 }).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      )
    const validate = await cli(['validate'])
    assert.notEqual(validate.code, 0)
    assert.match(validate.out, /syncs\[0\]\.message\.mapping\.nope: column "no_such_column" does not exist/)
    const check = await cli(['check'])
    assert.notEqual(check.code, 0)
    assert.match(check.out, /FAIL .*authentication/i)
    // run: past the checks, the daemon itself fails on the wrong password and logs it, again and again.
    const runFile = join(dir, 'run.yaml') // the same, minus the bad column: the daemon gets as far as Kafka
    writeFileSync(runFile, readFileSync(file, 'utf8').replace(', nope: no_such_column', ''))
    const daemon = spawn(process.execPath, ['bin/rowcast.mjs', 'run', '--skip-checks', '--config', runFile], { env: { ...childEnv, ROWCAST_LOG_LEVEL: 'debug' } })
    let logs = ''
    daemon.stdout.on('data', (d: Buffer) => (logs += d.toString()))
    daemon.stderr.on('data', (d: Buffer) => (logs += d.toString()))
    // Until it has said so (a loaded machine takes longer to get that far), within a minute.
    for (const deadline = Date.now() + 60_000; !/KAFKA_AUTH_FAILED|authentication/i.test(logs) && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 200))
    await new Promise((r) => setTimeout(r, 1_000)) // and a retry more, whose lines are checked for the secret too
    daemon.kill('SIGTERM')
    await new Promise((r) => daemon.once('exit', r))
    assert.match(logs, /KAFKA_AUTH_FAILED|authentication/i, 'the daemon logged the authentication failure')
    for (const [name, out] of [['validate', validate.out], ['check', check.out], ['run', logs]] as const) {
      assert.ok(!out.includes(planted), `${name} output contains the planted secret:\n${out}`)
    }
  })
})
