import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../../scripts/stack-env.ts'

/** `rowcast` runs the bundle when it is fresh and the TypeScript sources (tsx) when a source is newer. */
const bundle = join(repoRoot, 'dist', 'rowcast.mjs')

function whichCode(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'rowcast-bin-'))
  const config = join(dir, 'rowcast.yaml')
  // Nothing listens on port 9: the daemon logs its start, then keeps retrying PostgreSQL until killed.
  writeFileSync(config, `
source: { postgres: { url: "postgres://nobody@127.0.0.1:9/none" } }
destination: { kafka: { clientId: bin-test, brokers: "127.0.0.1:9" } }
syncs: [{ name: s, model: { table: public.t }, topic: t, message: { column: c } }]
`)
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'rowcast.mjs'), 'run', '--config', config, '--skip-checks'], { stdio: ['ignore', 'pipe', 'pipe'] })
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`no "starting rowcast" line within 20 s: ${out}`))
    }, 20_000)
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const code = /"code":"([^"]+)"[^\n]*"msg":"starting rowcast/.exec(out)?.[1]
      if (code === undefined) return
      clearTimeout(timer)
      child.kill('SIGKILL')
      resolve(code)
    })
  })
}

test('the bundle runs when it is fresh; the sources (tsx) when a source file is newer', async () => {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' })
  assert.equal(await whichCode(), 'dist/rowcast.mjs')
  const built = statSync(bundle).mtime
  utimesSync(bundle, new Date(2000, 0, 1), new Date(2000, 0, 1)) // older than every source
  try {
    assert.equal(await whichCode(), 'TypeScript sources (tsx)')
  } finally {
    utimesSync(bundle, built, built)
  }
  assert.equal(await whichCode(), 'dist/rowcast.mjs')
})
