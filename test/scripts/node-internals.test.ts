import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../../scripts/stack-env.ts'
import { installKafkajsFastPaths } from '../../connectors/kafka/kafkajs/patch.ts'

/**
 * What rowcast takes from Node's and V8's internals, checked on the Node that runs this file: `npm test` runs
 * it on 20, 22 and 24 (scripts/test.sh, the node22/node24 steps). If a Node line drops one of these, this file
 * names which, before a slower or broken daemon would.
 */

test('Buffer#utf8Slice (the decoder reads text columns with it) decodes like toString', () => {
  const buf = Buffer.from('\u0000héllo wörld ✓ 🐘\u0000', 'utf8')
  const sliceable = buf as unknown as { utf8Slice?: (start: number, end: number) => string }
  assert.equal(typeof sliceable.utf8Slice, 'function', `Buffer#utf8Slice is gone in ${process.version}: connectors/postgres/pgoutput.ts needs toString('utf8', …) instead`)
  assert.equal(sliceable.utf8Slice?.(1, buf.length - 1), buf.toString('utf8', 1, buf.length - 1))
  assert.equal(sliceable.utf8Slice?.(3, 3), '')
})

test('bin/rowcast.mjs sets its V8 heap flag without a complaint from V8', () => {
  // The bin with a stand-in for the build: only the bin's own start-up runs, before and around the import.
  const dir = mkdtempSync(join(tmpdir(), 'rowcast-node-'))
  mkdirSync(join(dir, 'bin'))
  mkdirSync(join(dir, 'dist'))
  copyFileSync(join(repoRoot, 'bin', 'rowcast.mjs'), join(dir, 'bin', 'rowcast.mjs'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'rowcast', type: 'module' }))
  writeFileSync(join(dir, 'dist', 'cli.js'), `export async function main() { console.log('started'); return 0 }\n`)
  const { NODE_OPTIONS: _ignored, ...env } = process.env
  const run = spawnSync(process.execPath, [join(dir, 'bin', 'rowcast.mjs')], { env: { ...env, ROWCAST_HEAP_GROWING_PERCENT: '100' }, encoding: 'utf8' })
  assert.equal(run.stderr, '', 'an unknown or renamed V8 flag is reported by V8 on stderr')
  assert.equal(run.stdout.trim(), 'started')
  assert.equal(run.status, 0)
  // V8 itself knows the flag (an unrecognised one makes node refuse to start).
  const direct = spawnSync(process.execPath, ['--heap-growing-percent=100', '-e', ''], { encoding: 'utf8' })
  assert.equal(direct.status, 0, direct.stderr)
})

test('the kafkajs fast paths install (kafkajs loads through rowcast on this Node)', () => {
  const status = installKafkajsFastPaths()
  assert.deepEqual({ grouping: status.grouping, produceRequest: status.produceRequest, reason: status.reason }, { grouping: true, produceRequest: true, reason: null })
})
