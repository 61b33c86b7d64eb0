import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../../scripts/stack-env.ts'

/**
 * scripts/node-versions.sh: where npm test's node22/node24 steps find their Node. Without the binaries the step
 * fails and says how to get them (never a silent skip); a cached older pin counts as missing.
 */

function bin(cache: string, major: string) {
  return spawnSync('bash', [join(repoRoot, 'scripts/node-versions.sh'), 'bin', major], { env: { ...process.env, ROWCAST_CACHE: cache }, encoding: 'utf8' })
}

test('a missing Node line fails, naming the fetch command', () => {
  const run = bin(mkdtempSync(join(tmpdir(), 'rowcast-nodes-')), '22')
  assert.equal(run.status, 1)
  assert.equal(run.stdout, '')
  assert.match(run.stderr, /Node 22 \(22\.\d+\.\d+\) is not in .*node-22/)
  assert.match(run.stderr, /fix: bash scripts\/node-versions\.sh fetch/)
})

test('a cached binary of another pin is not used; the pinned one is', () => {
  const cache = mkdtempSync(join(tmpdir(), 'rowcast-nodes-'))
  mkdirSync(join(cache, 'node-24', 'bin'), { recursive: true })
  writeFileSync(join(cache, 'node-24', '.complete'), '24.0.0\n')
  assert.equal(bin(cache, '24').status, 1)
  const pinned = spawnSync('bash', ['-c', 'grep -o "\\[24\\]=[0-9.]*" scripts/node-versions.sh | cut -d= -f2'], { cwd: repoRoot, encoding: 'utf8' }).stdout.trim()
  writeFileSync(join(cache, 'node-24', '.complete'), `${pinned}\n`)
  const run = bin(cache, '24')
  assert.equal(run.status, 0, run.stderr)
  assert.equal(run.stdout.trim(), join(cache, 'node-24', 'bin'))
})

test('only the tested lines are known', () => {
  assert.equal(spawnSync('bash', [join(repoRoot, 'scripts/node-versions.sh'), 'majors'], { encoding: 'utf8' }).stdout.trim(), '22 24')
  assert.match(bin(tmpdir(), '18').stderr, /no pinned version for Node major '18' \(tested: 22 24\)/)
})
