import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { createTopics, sql, stack, TEST_GROUP, uniqueName } from '../support/harness.ts'

/** A loopback port nothing listens on (bound, then closed): connecting to it is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** `rowcast check`, `validate`, `setup` and `resync` find their host in a libpq host list as `run` does (hosts.ts). */
describe('the CLI with a multi-host source.postgres.url', () => {
  let env: StackEnv
  let file: string
  let name: string
  before(async () => {
    env = await stack()
    name = uniqueName('multihost')
    await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, email text)`)
    await createTopics(env, [name], 1)
    const stackUrl = new URL(env.ROWCAST_PG_URL)
    const list = new URL(env.ROWCAST_PG_URL)
    list.searchParams.set('target_session_attrs', 'read-write')
    // The first host refuses connections; the second is the stack's PostgreSQL.
    const url = list.toString().replace(`@${stackUrl.host}/`, `@127.0.0.1:${await closedPort()},${stackUrl.host}/`)
    assert.match(url, /@127\.0\.0\.1:\d+,[^/]+\/.*target_session_attrs=read-write/)
    file = join(mkdtempSync(join(tmpdir(), 'rowcast-multihost-')), 'config.yaml')
    writeFileSync(file, `
source:
  postgres: { url: "${url}", streamGroup: { slot: ${TEST_GROUP} } }
destination:
  kafka: { clientId: rowcast-multihost-test, brokers: "${env.KAFKA_BOOTSTRAP_PLAINTEXT}" }
syncs:
  - name: ${name}
    model: { table: public.${name} }
    topic: ${name}
    message: { mapping: { id: id } }
`)
  })

  function rowcast(args: string[]): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['bin/rowcast.mjs', ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1
        resolve({ code, out: stdout + stderr })
      })
    })
  }

  test('check connects to the second host and checks the sync there', async () => {
    const { code, out } = await rowcast(['check', '--config', file])
    assert.equal(code, 0, out)
    assert.match(out, /^ok {3}postgres: reachable: PostgreSQL \d+/m)
    assert.match(out, new RegExp(`^ok {3}postgres: sync ${name} \\(public\\.${name}\\): table, columns and key ok`, 'm'))
  })

  test('validate and setup check the sync against the second host', async () => {
    const validate = await rowcast(['validate', '--config', file])
    assert.equal(validate.code, 0, validate.out)
    assert.match(validate.out, /config ok: 1 sync/)
    const setup = await rowcast(['setup', '--config', file])
    assert.equal(setup.code, 0, setup.out)
    assert.match(setup.out, new RegExp(`ALTER TABLE public\\.${name} REPLICA IDENTITY FULL;`))
  })

  test('resync records the request on the second host', async () => {
    const { code, out } = await rowcast(['resync', '--config', file, '--sync', name])
    assert.equal(code, 0, out)
    assert.match(out, new RegExp(`resync of "${name}" requested`))
    const state = await sql(env, 'SELECT backfill FROM _rowcast.sync_state WHERE sync = $1', [name])
    assert.equal(state.rows[0]?.backfill, 'resync')
  })
})
