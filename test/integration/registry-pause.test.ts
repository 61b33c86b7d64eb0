/**
 * A schema registration at run time (a topic read from a column) pauses reading from PostgreSQL while it waits,
 * instead of buffering everything that arrives meanwhile. rowcast is the shipped CLI; the registry is the stack's
 * Apicurio (`STACK_REGISTRY=1 bash scripts/stack.sh up`), reached through a loopback proxy that holds POSTs
 * (registrations and lookups) for a few seconds, as a slow registry would.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, request, type Server } from 'node:http'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, writeConfig, type RowcastProcess } from '../support/rowcast-process.ts'

const HOLD_MS = 6_000 // under the registry client's 10 s socket timeout

/** Forwards everything to `target`; while `holding`, each POST waits HOLD_MS first. */
function slowProxy(target: string): Promise<{ server: Server; url: string; hold(on: boolean): void; held: () => number }> {
  let holding = false
  let held = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const forward = () => {
        const upstream = request(new URL(`${target.replace(/\/$/, '')}${req.url ?? '/'}`), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        })
        upstream.on('error', () => res.writeHead(502).end())
        upstream.end(Buffer.concat(chunks))
      }
      if (holding && req.method === 'POST') {
        held++
        setTimeout(forward, HOLD_MS)
      } else forward()
    })
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, hold: (on) => void (holding = on), held: () => held,
  })))
}

async function metric(proc: RowcastProcess, name: string, sync: string): Promise<number | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${proc.port}/metrics`, { signal: AbortSignal.timeout(2_000) })).text()
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`sync="${sync}"`))
    return line === undefined ? null : Number(line.slice(line.lastIndexOf(' ') + 1))
  } catch {
    return null
  }
}

describe('schema registration holds the source (rowcast as a child process)', () => {
  let env: StackEnv
  let proxy: Awaited<ReturnType<typeof slowProxy>> | null = null
  before(async () => {
    env = await stack()
  })
  after(() => proxy?.server.close())

  test('while a new topic\'s schema registers, reading pauses; every row arrives afterwards', { timeout: 120_000 }, async (t) => {
    const registry = env.SCHEMA_REGISTRY_URL
    if (registry === undefined) return t.skip('SCHEMA_REGISTRY_URL is not in .stack/env: STACK_REGISTRY=1 bash scripts/stack.sh up')
    proxy = await slowProxy(registry)
    const table = uniqueName('registry_pause')
    const [first, second] = [uniqueName('reg_pause_a'), uniqueName('reg_pause_b')]
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, topic text NOT NULL, pad text NOT NULL)`)
    await createTopics(env, [first, second])
    const port = await freePort()
    const config = writeConfig(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: { column: topic }
    key: id
    message: { format: json-schema, mapping: { id: id, pad: pad } }
`, port, `  schemaRegistry: { url: "${proxy.url}" }`)
    const proc = spawnRowcast(config, port)
    const insert = (id: number, topic: string) => sql(env, `INSERT INTO ${table} VALUES ($1, $2, $3)`, [id, topic, randomBytes(3_072).toString('base64')])
    let rows = 0
    try {
      await eventually(() => proc.states(), (s) => s?.[table] === 'streaming', 60_000, 'streaming').catch((error: Error) => {
        throw new Error(`${error.message}\n${proc.logs().slice(-3_000)}`)
      })
      await insert(++rows, first) // registers the first topic's schema, unhindered
      await eventually(() => metric(proc, 'rowcast_messages_produced_total', table), (n) => (n ?? 0) >= 1, 30_000, 'the first row delivered').catch((error: Error) => {
        throw new Error(`${error.message}\n${proc.logs().slice(-3_000)}`)
      })

      proxy.hold(true)
      await insert(++rows, second) // a new topic: its registration is held
      let pausedSeen = false
      const deadline = Date.now() + HOLD_MS
      while (Date.now() < deadline) {
        for (let i = 0; i < 20; i++) await insert(++rows, first) // rows for a ready topic, behind the waiting batch
        if ((await metric(proc, 'rowcast_paused', table)) === 1) pausedSeen = true
      }
      proxy.hold(false)
      console.log(`registration held ${HOLD_MS} ms (${proxy.held()} requests held); ${rows} rows of 4 KiB written; reading paused meanwhile: ${pausedSeen}`)
      assert.ok(proxy.held() >= 1, 'the registration went through the proxy')
      assert.ok(pausedSeen, 'rowcast_paused stayed 0 while the registration waited: everything read meanwhile was buffered')

      const consumer = await consume(env, [first, second])
      try {
        const want = rows
        // json-schema wire format: a magic byte and the schema id, then the JSON value
        const ids = () => new Set(consumer.messages.map((m) => /"id":(\d+)/.exec(m.value)?.[1]))
        await eventually(() => ids().size, (n) => n >= want, 60_000, `all ${want} rows in Kafka`).catch(() => undefined)
        const keys = ids()
        const missing = Array.from({ length: rows }, (_, i) => String(i + 1)).filter((k) => !keys.has(k))
        assert.deepEqual(missing, [], 'every row is delivered')
        assert.ok(consumer.messages.some((m) => m.topic === second), 'the held topic got its row')
      } finally {
        await consumer.stop()
      }
    } finally {
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, `rowcast_${table}`)
    }
  })
})
