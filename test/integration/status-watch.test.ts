import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, writeConfig } from '../support/rowcast-process.ts'

/** `rowcast status --watch` through the shipped CLI, its output a pipe (not a terminal): a line per change of the progress. */
describe('rowcast status --watch', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('without a terminal it prints the snapshot\'s progress as plain lines until the snapshot is done, then exits 0', { timeout: 120_000 }, async () => {
    const table = uniqueName('watch')
    const rows = 10_000
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL)`)
    await sql(env, `INSERT INTO ${table} SELECT g, 0 FROM generate_series(1, ${rows}) g`)
    await createTopics(env, [table])
    const port = await freePort()
    // Paced (1,000 rows/s, chunks of 200): the snapshot takes about 10 s, long enough to watch (the CLI alone takes seconds to start on a loaded machine).
    const config = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    initialSync: backfill
    snapshot: { chunkRows: 200, maxRowsPerSecond: 1000 }
    message: { mapping: { id: id, n: n } }
`, port)
    const proc = spawnRowcast(config, port)
    try {
      await eventually(async () => {
        try {
          return ((await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { syncs: Record<string, { snapshot: { running: boolean } | null }> }).syncs[table]?.snapshot ?? null
        } catch {
          return null
        }
      }, (s) => s?.running === true, 60_000, 'the snapshot running')
      const { stdout } = await promisify(execFile)(process.execPath, ['bin/rowcast.mjs', 'status', '--watch', '--interval', '0.2', '--config', config], { timeout: 60_000 })
      const lines = stdout.trim().split('\n')
      const progress = lines.map((l) => new RegExp(`^${table}: streaming, snapshot (running|done) \\[[#.]{20}\\] (\\d+)/(\\d+) rows`).exec(l))
      assert.ok(progress.every((m) => m !== null), `every line is a plain status line (no terminal codes):\n${stdout}`)
      const done = progress.map((m) => Number(m?.[2]))
      assert.ok(lines.length >= 3, `several progress lines while it ran:\n${stdout}`)
      assert.deepEqual(done, [...done].sort((a, b) => a - b), `rows done only grow:\n${stdout}`)
      assert.equal(progress.at(-1)?.[1], 'done', `the last line says done:\n${stdout}`)
      assert.equal(done.at(-1), rows)
      assert.equal(new Set(lines).size, lines.length, `a line is printed only when it changed:\n${stdout}`)
    } finally {
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, `rowcast_${table}`)
    }
  })
})
