import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { createTopics, eventually, sql, stack, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { dropSlotWhenFree, freePort, spawnRowcast } from '../support/rowcast-process.ts'

/**
 * Secrets are decided by the config schema: a distinct secret is planted in every secret-bearing field, inline
 * or through the environment, and none may come out of stdout, stderr, `rowcast validate`, `rowcast check`,
 * `/metrics`, the debugger feed or any alert body (a webhook receiver on loopback). A sync's `key: ${VAR}`
 * names a column: it is not a secret, and stays readable.
 */

const ROOT = new URL('../..', import.meta.url).pathname

/** One distinct secret per field; each is long enough to be scrubbed (and never occurs by chance). */
const SECRETS = {
  PG_PASSWORD: 'pgpass-9f3c2a7e41',
  KAFKA_PASSWORD: 'saslpass-4b8d0e6c12',
  AWS_SECRET_KEY: 'awssecret-7c1f9a3b55',
  AWS_SESSION_TOKEN: 'awstoken-2e6a8d4f90',
  REGISTRY_PASSWORD: 'regpass-5d7b1c9e33',
  DEBUGGER_TOKEN: 'debugtoken-8a2f6c0e4b71',
  SLACK_PATH: 'slackhook-3f9b7d1a66',
  PAGERDUTY_KEY: 'pdroutingkey-6e0c4a8b27',
  WEBHOOK_TOKEN: 'hooktoken-1a5e9c3d88',
  SMTP_PASSWORD: 'smtppass-0b4f8e2a19',
} as const
type SecretName = keyof typeof SECRETS

interface Received { path: string; headers: Record<string, string | string[] | undefined>; body: string }

function receiver(): Promise<{ server: Server; port: number; received: Received[] }> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => (body += c.toString()))
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body })
      res.writeHead(200).end('ok')
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, received })))
}

/** The value of a secret field: inline, or `${VAR}` with VAR set in the environment of the command. */
const field = (name: SecretName, viaEnv: boolean) => (viaEnv ? `\${${name}}` : SECRETS[name])

function configText(env: StackEnv, o: { viaEnv: boolean; pgUrl: string; kafka: string; httpPort: number; hookPort: number; closedPort: number; syncs: string }): string {
  const s = (name: SecretName) => field(name, o.viaEnv)
  return `
source:
  postgres: { url: "${o.pgUrl}", heartbeatIntervalMs: 1000, statusIntervalMs: 1000, streamGroup: { slot: ${TEST_GROUP} } }
destination:
  kafka:
${o.kafka}
  schemaRegistry: { url: "http://127.0.0.1:${o.closedPort}", auth: { username: reguser, password: "${s('REGISTRY_PASSWORD')}" } }
http: { port: ${o.httpPort}, debuggerToken: "${s('DEBUGGER_TOKEN')}" }
alertThresholds: { kafkaUnreachableMs: 0 }
alerts:
  - { type: slack, url: "http://127.0.0.1:${o.hookPort}/slack/${s('SLACK_PATH')}" }
  - { type: pagerduty, routingKey: "${s('PAGERDUTY_KEY')}", url: "http://127.0.0.1:${o.hookPort}/pagerduty" }
  - { type: webhook, url: "http://127.0.0.1:${o.hookPort}/hook", headers: { Authorization: "Bearer ${s('WEBHOOK_TOKEN')}" } }
  - { type: email, smtp: "smtp://mailer:${s('SMTP_PASSWORD')}@127.0.0.1:${o.closedPort}", to: [ops@example.com], allowPlaintext: true }
syncs:
${o.syncs}
`
}

function saslPlain(env: StackEnv, viaEnv: boolean): string {
  return `    brokers: "${env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT}"
    allowPlaintextCredentials: true
    auth: { mechanism: plain, username: plainuser, password: "${field('KAFKA_PASSWORD', viaEnv)}" }`
}

function awsIam(env: StackEnv, viaEnv: boolean): string {
  return `    brokers: "${env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT}"
    allowPlaintextCredentials: true
    auth: { mechanism: aws-iam, authorizationIdentity: AIDAEXAMPLE, accessKeyId: AKIAEXAMPLE, secretAccessKey: "${field('AWS_SECRET_KEY', viaEnv)}", sessionToken: "${field('AWS_SESSION_TOKEN', viaEnv)}" }`
}

function write(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rowcast-secrets-')), 'rowcast.yaml')
  writeFileSync(file, text)
  return file
}

/** Runs a CLI command; resolves with its exit code and both streams. */
async function cli(args: string[], envVars: Record<string, string>): Promise<string> {
  const result = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/rowcast.mjs'), ...args], { cwd: ROOT, env: { ...process.env, ...envVars }, timeout: 60_000 })
    .then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }))
  return `${args.join(' ')} (exit ${result.code})\n${result.stdout}\n${result.stderr}`
}

function leaks(where: string, text: string, except: readonly SecretName[] = []): string[] {
  return (Object.keys(SECRETS) as SecretName[]).filter((name) => !except.includes(name) && text.includes(SECRETS[name])).map((name) => `${name} in ${where}`)
}

describe('secrets never leave the process (rowcast as a child process)', () => {
  let env: StackEnv
  let hook: Awaited<ReturnType<typeof receiver>>
  before(async () => {
    env = await stack()
    hook = await receiver()
  })
  after(() => hook.server.close())

  test('a distinct secret in every secret-bearing field, inline and from the environment: none in validate, check, logs, /metrics, the debugger or alert bodies', { timeout: 300_000 }, async () => {
    const table = uniqueName('secrets')
    const missing = uniqueName('secrets_missing')
    const topic = uniqueName('secrets')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, customer_ref text NOT NULL)`)
    await sql(env, `ALTER TABLE ${table} REPLICA IDENTITY FULL`) // the key column is not the primary key: a DELETE must carry it
    await createTopics(env, [topic])
    const closedPort = await freePort()
    const envVars = { ...SECRETS, KEY_COLUMN: 'customer_ref' }
    const sync = (name: string, t: string) => `
  - name: ${name}
    model: { table: public.${t} }
    topic: ${topic}
    key: \${KEY_COLUMN}
    message: { mapping: { id: id, customer_ref: customer_ref } }`
    const found: string[] = []
    const outputs: string[] = []

    // validate and check: a wrong PostgreSQL password, SASL PLAIN or aws-iam, everything inline or from the environment.
    for (const viaEnv of [false, true]) {
      const pgUrl = `postgres://rowcast:${field('PG_PASSWORD', viaEnv)}@127.0.0.1:${env.PG_PORT}/rowcast`
      for (const [kafka, commands] of [[saslPlain(env, viaEnv), ['validate', 'check']], [awsIam(env, viaEnv), ['validate']]] as const) {
        const file = write(configText(env, { viaEnv, pgUrl, kafka, httpPort: closedPort, hookPort: hook.port, closedPort, syncs: sync(table, table) }))
        for (const command of commands) {
          const out = await cli([command, '--config', file], envVars)
          outputs.push(out)
          found.push(...leaks(`rowcast ${command} (${viaEnv ? 'env' : 'inline'})`, out))
        }
      }
    }

    // The daemon: a sync that delivers (SCRAM over the SASL listener) and one whose table is missing (fails: an alert).
    const httpPort = await freePort()
    const scram = `    brokers: "${env.KAFKA_BOOTSTRAP_SASL_PLAINTEXT}"
    auth: { mechanism: scram-sha-256, username: "${env.KAFKA_SCRAM256_USER}", password: "\${KAFKA_SCRAM_PASSWORD}" }`
    const daemonConfig = write(configText(env, { viaEnv: true, pgUrl: env.ROWCAST_PG_URL, kafka: scram, httpPort, hookPort: hook.port, closedPort, syncs: sync(table, table) + sync(missing, missing) }))
    Object.assign(process.env, envVars, { KAFKA_SCRAM_PASSWORD: env.KAFKA_SCRAM256_PASSWORD })
    const proc = spawnRowcast(daemonConfig, httpPort)
    try {
      await eventually(() => proc.states(), (s) => s?.[table] === 'streaming', 60_000, 'the healthy sync streaming').catch((error: Error) => {
        throw new Error(`${error.message}\n${proc.logs().slice(-3_000)}`)
      })
      await sql(env, `INSERT INTO ${table} VALUES (1, 'ref-${SECRETS.PG_PASSWORD.length}')`)
      const auth = { authorization: `Bearer ${SECRETS.DEBUGGER_TOKEN}` }
      const records = await eventually(async () => (await fetch(`http://127.0.0.1:${httpPort}/debugger/records`, { headers: auth })).text(), (t) => t.includes('"status":"sent"'), 30_000, 'a delivered record in the debugger')
      await eventually(() => hook.received, (r) => r.some((x) => x.path === '/hook') && r.some((x) => x.path === '/pagerduty') && r.some((x) => x.path.startsWith('/slack/')), 60_000, 'alerts on every HTTP channel')
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
      await new Promise((r) => setTimeout(r, 2_000)) // the email channel's delivery failure is logged too
      found.push(...leaks('/debugger/records', records), ...leaks('/metrics', metrics))
      const sent = (JSON.parse(records) as { status: string; message: string | null }[]).find((r) => r.status === 'sent')
      assert.match(sent?.message ?? '', /"customer_ref":/, 'key: ${KEY_COLUMN} names a column, not a secret: the message shows it unscrubbed')
      for (const r of hook.received) {
        // A channel's own credential goes to its own endpoint (PagerDuty's routing key in its body): nothing else may.
        const body = r.path === '/pagerduty' ? r.body.replace(JSON.stringify(SECRETS.PAGERDUTY_KEY), '""') : r.body
        found.push(...leaks(`alert body ${r.path.replace(/\/slack\/.*/, '/slack/…')}`, body))
      }
    } finally {
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, TEST_GROUP)
    }
    const logs = proc.logs()
    found.push(...leaks('the daemon\'s stdout/stderr', logs))
    assert.ok(logs.includes(missing), 'the failing sync was logged')
    console.log(`secrets: ${Object.keys(SECRETS).length} planted; searched ${outputs.length} validate/check outputs, daemon logs (${logs.length} chars), /metrics, the debugger feed, ${hook.received.length} alert requests; leaks: ${found.length === 0 ? 'none' : found.join(', ')}`)
    assert.deepEqual(found, [], `secrets leaked:\n${found.join('\n')}\n--- outputs:\n${outputs.join('\n---\n').slice(0, 6_000)}`)
  })
})
