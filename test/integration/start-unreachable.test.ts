import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configYaml, consume, createTopics, eventually, sql, stack, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { dropSlotWhenFree, freePort, spawnRowcast } from '../support/rowcast-process.ts'

/**
 * `rowcast run` started before its servers (a supervisor starting everything at once): it waits and retries with
 * backoff, says why in /readyz, and streams once they are reachable. `rowcast check` still fails fast.
 * The servers are reached through ports that are closed at first and opened later (a forwarding proxy).
 */
describe('rowcast run while PostgreSQL and Kafka are unreachable', () => {
  let env: StackEnv
  const proxies: Server[] = []
  const sockets = new Set<Socket>()
  let slot = ''
  before(async () => {
    env = await stack()
  })
  after(async () => {
    for (const socket of sockets) socket.destroy()
    for (const proxy of proxies) proxy.close()
    if (slot !== '') await dropSlotWhenFree(env, slot)
  })

  /** From now on, `port` forwards to `target` (host:port). */
  function openProxy(port: number, target: string): Promise<void> {
    const [host, targetPort] = target.split(':')
    const proxy = createServer((client) => {
      const upstream = connect(Number(targetPort), host)
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on('error', () => s.destroy())
        s.on('close', () => sockets.delete(s))
      }
      client.pipe(upstream).pipe(client)
    })
    proxies.push(proxy)
    return new Promise((resolve) => proxy.listen(port, '127.0.0.1', resolve))
  }

  test('waits, reports why on /readyz, and streams once they come up; check fails fast', { timeout: 180_000 }, async () => {
    const name = uniqueName('startwait')
    slot = TEST_GROUP // the sync shares the file's stream group (the default)
    await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, body text)`)
    await createTopics(env, [name], 1)
    const pgPort = await freePort()
    const kafkaPort = await freePort()
    const pgUrl = new URL(env.ROWCAST_PG_URL)
    const pgTarget = `${pgUrl.hostname}:${pgUrl.port || '5432'}`
    pgUrl.host = `127.0.0.1:${pgPort}`
    const httpPort = await freePort()
    const file = join(mkdtempSync(join(tmpdir(), 'rowcast-wait-')), 'rowcast.yaml')
    const syncYaml = `  - name: ${name}\n    model: { table: public.${name} }\n    topic: ${name}\n    initialSync: skip\n    message: { mapping: { id: id, body: body } }\n`
    writeFileSync(file, configYaml({ ...env, ROWCAST_PG_URL: pgUrl.toString(), KAFKA_BOOTSTRAP_PLAINTEXT: `127.0.0.1:${kafkaPort}` }, syncYaml, { root: `http:\n  port: ${httpPort}` }))

    const check = await new Promise<{ code: number; tookMs: number }>((resolve) => {
      const started = Date.now()
      execFile(process.execPath, ['bin/rowcast.mjs', 'check', '--config', file], { timeout: 60_000 }, (error) => resolve({ code: error === null ? 0 : Number((error as { code?: unknown }).code ?? -1), tookMs: Date.now() - started }))
    })
    assert.equal(check.code, 1, '`rowcast check` fails while the servers are unreachable')
    assert.ok(check.tookMs < 30_000, `check failed fast (${check.tookMs} ms)`)

    const daemon = spawnRowcast(file, httpPort, { checks: true })
    try {
      const readyz = await eventually(
        () => fetch(`http://127.0.0.1:${httpPort}/readyz`).then(async (r) => ({ status: r.status, body: (await r.json()) as { reasons?: Record<string, string> } }), () => null),
        (r) => r !== null && r.body.reasons?.[name] !== undefined,
        30_000,
        `/readyz with a reason (exit code ${daemon.exitCode()}, logs: ${daemon.logs().slice(-2000)})`,
      )
      console.log(`/readyz while unreachable: ${readyz?.status} ${JSON.stringify(readyz?.body)}`)
      assert.equal(readyz?.status, 503)
      assert.match(readyz?.body.reasons?.[name] ?? '', /PostgreSQL/)
      assert.match(daemon.logs(), /not reachable yet: starting anyway/)

      await openProxy(pgPort, pgTarget)
      await openProxy(kafkaPort, env.KAFKA_BOOTSTRAP_PLAINTEXT)
      const opened = Date.now()
      await eventually(() => daemon.states(), (s) => s?.[name] === 'streaming', 90_000, `streaming once reachable (logs: ${daemon.logs().slice(-2000)})`)
      console.log(`streaming ${Date.now() - opened} ms after the servers became reachable`)
      const consumer = await consume(env, [name])
      try {
        await sql(env, `INSERT INTO ${name} SELECT g, repeat('x', 4096) FROM generate_series(1, 20) g`)
        await consumer.waitFor(20, 30_000)
      } finally {
        await consumer.stop()
      }
      assert.equal(daemon.exitCode(), null, 'still running')
    } finally {
      await daemon.kill('SIGKILL')
    }
  })
})
