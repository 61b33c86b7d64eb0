import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../../scripts/stack-env.ts'
import { ensureBuilt } from '../support/build.ts'

/**
 * What `rowcast` (bin/rowcast.mjs) promises: it runs the built code, dist/cli.js, and nothing else (no switch
 * to the sources when they are newer), and when the build is missing it says how to make it.
 */

/** A package folder holding bin/rowcast.mjs and, with `built`, a dist/cli.js that reports how it was called. */
function packageFolder(built: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'rowcast-bin-'))
  mkdirSync(join(dir, 'bin'))
  copyFileSync(join(repoRoot, 'bin', 'rowcast.mjs'), join(dir, 'bin', 'rowcast.mjs'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'rowcast', type: 'module' }))
  if (built) {
    mkdirSync(join(dir, 'dist'))
    writeFileSync(join(dir, 'dist', 'cli.js'), 'export async function main(argv) { console.log(JSON.stringify({ ran: "dist/cli.js", args: argv.slice(2) })); return 3 }\n')
    // Written after the build, so newer than it: it must not run.
    mkdirSync(join(dir, 'daemon'))
    writeFileSync(join(dir, 'daemon', 'cli.ts'), 'export async function main(): Promise<number> { console.log("the sources ran"); return 4 }\n')
  }
  return dir
}

function runBin(dir: string, args: string[]) {
  return spawnSync(process.execPath, [join(dir, 'bin', 'rowcast.mjs'), ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NODE_OPTIONS: '' } })
}

test('it runs dist/cli.js with the arguments and exits with its code, even when a source file is newer', () => {
  const result = runBin(packageFolder(true), ['validate', '--config', 'x.yaml'])
  assert.equal(result.status, 3, result.stderr)
  assert.deepEqual(JSON.parse(result.stdout), { ran: 'dist/cli.js', args: ['validate', '--config', 'x.yaml'] })
})

test('without dist/cli.js it exits 1 and says to run `npm run build`', () => {
  const dir = packageFolder(false)
  const result = runBin(dir, ['--help'])
  assert.equal(result.status, 1)
  assert.equal(result.stdout, '')
  assert.match(result.stderr, /dist\/cli\.js is missing: run `npm run build` in /)
  assert.ok(result.stderr.includes(dir), result.stderr)
})

test('the repository build: `rowcast run` logs its version and Node.js version at start-up', async () => {
  ensureBuilt() // dist/ as the sources are now (npm test built it already: then nothing to do)
  const { version } = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }
  assert.deepEqual(await startLine(), { version, node: process.version })
})

/** The fields of the daemon's "starting rowcast" line (it then retries PostgreSQL on port 9 until killed). */
function startLine(): Promise<{ version: unknown; node: unknown }> {
  const dir = mkdtempSync(join(tmpdir(), 'rowcast-bin-'))
  const config = join(dir, 'rowcast.yaml')
  writeFileSync(config, `
source: { postgres: { url: "postgres://nobody@127.0.0.1:9/none" } }
destination: { kafka: { clientId: bin-test, brokers: "127.0.0.1:9" } }
syncs: [{ name: s, model: { table: public.t }, topic: t, message: { column: c } }]
`)
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'rowcast.mjs'), 'run', '--config', config, '--skip-checks'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', ROWCAST_LOG_PRETTY: '0' },
  })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`no "starting rowcast" line within 20 s: ${out}`))
    }, 20_000)
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const line = out.split('\n').find((l) => l.includes('"msg":"starting rowcast"'))
      if (line === undefined) return
      clearTimeout(timer)
      child.kill('SIGKILL')
      const { version, node } = JSON.parse(line) as { version: unknown; node: unknown }
      resolve({ version, node })
    })
  })
}
