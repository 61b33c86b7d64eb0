// docker-compose.yml stays valid: `docker-compose config -q` parses and checks it (no engine needed).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { repoRoot } from '../../scripts/stack-env.ts'

const composeFile = join(repoRoot, 'docker-compose.yml')

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('docker-compose', args, { cwd: repoRoot }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0
      resolve({ code, stdout, stderr: error && error.code === 'ENOENT' ? 'ENOENT' : stderr })
    })
  })
}

test('docker-compose config -q accepts docker-compose.yml', async (t) => {
  const result = await run(['-f', composeFile, 'config', '-q'])
  if (result.stderr === 'ENOENT') {
    t.skip('docker-compose is not installed (apt-get install -y docker-compose; .ci/run installs it)')
    return
  }
  assert.equal(result.code, 0, `docker-compose config failed:\n${result.stderr}`)
})

test('docker-compose.yml publishes the local stack ports on 127.0.0.1', () => {
  const compose = parse(readFileSync(composeFile, 'utf8')) as { services: Record<string, { ports?: string[]; command?: unknown }> }
  assert.deepEqual(compose.services.postgres.ports, ['127.0.0.1:55432:5432'])
  assert.deepEqual(compose.services.kafka.ports, ['127.0.0.1:19092:19092'])
  assert.ok(JSON.stringify(compose.services.postgres.command).includes('wal_level=logical'))
})

test('docker-compose.yml runs rowcast from the Dockerfile\'s image, with the example config mounted where the image reads it', () => {
  const compose = parse(readFileSync(composeFile, 'utf8')) as { services: Record<string, { build?: unknown; volumes?: string[]; command?: unknown; stop_grace_period?: string }> }
  const rowcast = compose.services.rowcast
  assert.equal(rowcast.build, '.')
  assert.ok(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8').includes('CMD ["run", "--config", "/etc/rowcast/rowcast.yaml"]'))
  assert.deepEqual(rowcast.volumes, ['./examples/rowcast.yaml:/etc/rowcast/rowcast.yaml:ro'])
  assert.equal(rowcast.command, undefined, 'the image\'s own ENTRYPOINT and CMD')
  assert.equal(rowcast.stop_grace_period, '45s')
})
