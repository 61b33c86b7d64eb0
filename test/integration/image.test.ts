import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { repoRoot } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { dropSlotWhenFree } from '../support/rowcast-process.ts'

/**
 * The container image without Docker: scripts/image-layout.sh replays the Dockerfile's runtime stage into a folder
 * (its COPYs, its `npm ci --omit=dev`, its link), and rowcast runs from there as the image's ENTRYPOINT and CMD would
 * run it, against the stack, with the HEALTHCHECK's own command. Needs dist/ (npm test builds it first).
 */

const run = promisify(execFile)
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
const runtimeStage = dockerfile.slice(dockerfile.search(/^FROM .* AS runtime$/m))
/** Plain Node: nothing of this test process (tsx, the source condition) leaks into the image's process. */
const plainEnv = { PATH: `${dirname(process.execPath)}:/usr/bin:/bin`, HOME: tmpdir(), NODE_OPTIONS: '' }

/** An exec-form instruction's JSON array (ENTRYPOINT, CMD, HEALTHCHECK's CMD). */
function execForm(instruction: string): string[] {
  const match = new RegExp(`^${instruction}\\s+(\\[.*\\])$`, 'm').exec(runtimeStage.replace(/\\\n\s*/g, ''))
  assert.ok(match, `${instruction} in exec form in the runtime stage`)
  return JSON.parse(match[1]) as string[]
}

describe('the container image (its runtime layout, built without Docker)', () => {
  let env: StackEnv
  let root: string
  before(
    async () => {
      env = await stack()
      root = mkdtempSync(join(tmpdir(), 'rowcast-image-'))
      await run('bash', [join(repoRoot, 'scripts', 'image-layout.sh'), root], { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 240_000 })
    },
    { timeout: 260_000 },
  )
  after(() => {
    if (root !== undefined) rmSync(root, { recursive: true, force: true })
  })

  test('the runtime stage: slim Node, an init as PID 1, a non-root user, a health check on /healthz, `rowcast run` on the mounted config', () => {
    assert.match(runtimeStage, /^FROM node:\$\{NODE_VERSION\}-bookworm-slim AS runtime$/m)
    assert.match(dockerfile, /^FROM node:\$\{NODE_VERSION\}-bookworm-slim AS build$/m)
    assert.match(runtimeStage, /^USER node$/m)
    assert.deepEqual(execForm('ENTRYPOINT'), ['/usr/bin/tini', '--', 'rowcast'])
    assert.deepEqual(execForm('CMD'), ['run', '--config', '/etc/rowcast/rowcast.yaml'])
    assert.match(execForm('HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD').join(' '), /http:\/\/127\.0\.0\.1:9464\/healthz/)
  })

  test('the layout holds the built code, the command and production dependencies only', () => {
    const app = join(root, 'opt', 'rowcast')
    assert.deepEqual(readdirSync(app).sort(), ['bin', 'dist', 'node_modules', 'package-lock.json', 'package.json'])
    for (const file of ['dist/cli.js', 'dist/index.js', 'dist/rowcast.schema.json', 'bin/rowcast.mjs', 'node_modules/kafkajs', 'node_modules/pg']) assert.ok(existsSync(join(app, file)), file)
    for (const dev of ['typescript', 'eslint', 'playwright-core', 'ajv', 'zod-to-json-schema']) assert.ok(!existsSync(join(app, 'node_modules', dev)), `dev dependency ${dev} in the image`)
  })

  test('`rowcast --help` runs from the image layout (its PATH entry), anywhere', async () => {
    const { stdout } = await run(join(root, 'usr', 'local', 'bin', 'rowcast'), ['--help'], { cwd: '/', env: plainEnv, timeout: 30_000 })
    for (const command of ['run', 'validate', 'check', 'setup', 'resync']) assert.match(stdout, new RegExp(`^\\s+${command} `, 'm'), stdout)
  })

  test('ENTRYPOINT + CMD on a mounted config stream a row to Kafka, pass the HEALTHCHECK, and exit 0 on SIGTERM', { timeout: 90_000 }, async () => {
    const table = uniqueName('image')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, email text)`)
    await createTopics(env, [table], 1)
    // The mount: /etc/rowcast/rowcast.yaml, secrets from the environment. The HEALTHCHECK probes port 9464.
    const config = join(root, 'etc', 'rowcast', 'rowcast.yaml')
    mkdirSync(dirname(config), { recursive: true })
    writeFileSync(config, `
source:
  postgres:
    url: \${DATABASE_URL}
    heartbeatIntervalMs: 1000
    statusIntervalMs: 1000
    streamGroup: { slot: ${TEST_GROUP} }
destination:
  kafka:
    clientId: rowcast-image
    brokers: \${KAFKA_BROKERS}
http: { port: 9464, host: 0.0.0.0 }
syncs:
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    message: { mapping: { id: id, email: email } }
`)
    const [, , command] = execForm('ENTRYPOINT')
    const args = execForm('CMD').map((a) => (a.startsWith('/etc/') ? join(root, a) : a))
    const child = spawn(join(root, 'usr', 'local', 'bin', command), args, {
      cwd: '/',
      env: { ...plainEnv, DATABASE_URL: env.ROWCAST_PG_URL, KAFKA_BROKERS: env.KAFKA_BOOTSTRAP_PLAINTEXT, ROWCAST_LOG_PRETTY: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let logs = ''
    child.stdout.on('data', (chunk: Buffer) => (logs = (logs + chunk.toString()).slice(-20_000)))
    child.stderr.on('data', (chunk: Buffer) => (logs = (logs + chunk.toString()).slice(-20_000)))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const consumer = await consume(env, [table])
    try {
      await eventually(() => fetch('http://127.0.0.1:9464/readyz').then((r) => r.status, () => 0), (status) => status === 200, 30_000, 'the sync streaming').catch((error: Error) => {
        assert.fail(`${error.message}; exit code ${child.exitCode}; logs:\n${logs}`)
      })
      const [node, ...healthcheck] = execForm('HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 CMD')
      assert.equal(node, 'node')
      await run(process.execPath, healthcheck, { env: plainEnv, timeout: 10_000 })
      await sql(env, `INSERT INTO ${table} VALUES (1, 'a@example.com'), (2, 'b@example.com')`)
      const messages = await consumer.waitFor(2, 30_000)
      assert.deepEqual(messages.map((m) => [m.key, JSON.parse(m.value)]), [['1', { id: 1, email: 'a@example.com' }], ['2', { id: 2, email: 'b@example.com' }]])
      child.kill('SIGTERM')
      assert.equal(await exited, 0, `exit code after SIGTERM; logs:\n${logs}`)
      assert.match(logs, /"msg":"stopped"/)
    } finally {
      child.kill('SIGKILL')
      await consumer.stop()
      await dropSlotWhenFree(env, TEST_GROUP)
    }
  })
})
