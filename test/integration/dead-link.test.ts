import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configYaml, consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { allArrived, checkDelivery } from '../support/delivery-check.ts'
import { dropSlotWhenFree, freePort, spawnRowcast } from '../support/rowcast-process.ts'

/**
 * A silently dead link: rowcast reaches PostgreSQL through a TCP relay that, at some point, stops carrying
 * bytes on the connections it has without closing them (a partition where both kernels stay up and answer
 * keepalives). Only rowcast's receive timeout notices: the stream fails, the attempt is torn down in bounded
 * time, and the sync reconnects (new connections pass) and delivers every row.
 */

const TAKEOVER_TIMEOUT_MS = 5_000

/** A TCP relay to `target`; `blackhole()` stops forwarding on every connection open now (new ones pass). */
async function relay(target: { host: string; port: number }): Promise<{ port: number; blackhole(): void; close(): void }> {
  const pairs: { client: Socket; server: Socket; dead: boolean }[] = []
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host)
    const pair = { client, server: upstream, dead: false }
    pairs.push(pair)
    client.on('data', (chunk) => void (pair.dead || upstream.write(chunk)))
    upstream.on('data', (chunk) => void (pair.dead || client.write(chunk)))
    const end = () => {
      if (pair.dead) return // a dead link says nothing, not even that it closed
      client.destroy()
      upstream.destroy()
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as { port: number }).port,
    blackhole: () => pairs.forEach((p) => (p.dead = true)),
    close: () => {
      server.close()
      for (const p of pairs) {
        p.client.destroy()
        p.server.destroy()
      }
    },
  }
}

describe('a silently dead link to PostgreSQL', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  test('the replication receive timeout notices it; the sync reconnects and delivers every row', { timeout: 180_000 }, async () => {
    const table = uniqueName('deadlink')
    const topic = uniqueName('deadlink')
    await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
    await createTopics(env, [topic])
    const pgUrl = new URL(env.ROWCAST_PG_URL)
    const link = await relay({ host: pgUrl.hostname, port: Number(pgUrl.port) })
    const viaRelay = new URL(env.ROWCAST_PG_URL)
    viaRelay.host = `127.0.0.1:${link.port}`
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'rowcast-deadlink-'))
    const file = join(dir, 'rowcast.yaml')
    writeFileSync(file, configYaml({ ...env, ROWCAST_PG_URL: viaRelay.toString() }, `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, n: n, pad: pad } }
`, { root: `http:\n  port: ${port}` }).replace('    statusIntervalMs: 1000\n', `    statusIntervalMs: 1000\n    takeoverTimeoutMs: ${TAKEOVER_TIMEOUT_MS}\n`))
    const proc = spawnRowcast(file, port)
    const consumer = await consume(env, [topic])
    const writer = new pg.Client({ connectionString: env.ROWCAST_PG_URL })
    await writer.connect()
    let written = 0
    const insert = async () => {
      written++
      await writer.query(`INSERT INTO ${table} (id, n, pad) SELECT $1, 1, string_agg(md5(random()::text), '') FROM generate_series(1, 128)`, [written])
    }
    let writing = true
    let loop: Promise<void> = Promise.resolve()
    try {
      await eventually(() => proc.states(), (s) => s?.[table] === 'streaming', 60_000, 'streaming')
      // Written once streaming: rows from before the slot existed are not the stream's (initialSync: skip).
      loop = (async () => {
        while (writing) {
          await insert()
          await new Promise((r) => setTimeout(r, 40))
        }
      })()
      await eventually(() => consumer.messages.length, (n) => n > 10, 30_000, 'rows delivered before the cut')
      link.blackhole()
      const cutAt = Date.now()
      const lastBeforeCut = written
      await eventually(() => consumer.messages.some((m) => (JSON.parse(m.value) as { id: number }).id > lastBeforeCut), (ok) => ok, 60_000, 'a row written after the cut delivered').catch((error: Error) => {
        throw new Error(`${error.message}\nrowcast logs: ${proc.logs().slice(-3_000)}`)
      })
      const recoveredMs = Date.now() - cutAt
      console.log(`dead link: a row written after the cut delivered ${recoveredMs} ms after it (takeoverTimeoutMs ${TAKEOVER_TIMEOUT_MS}, receive timeout ${TAKEOVER_TIMEOUT_MS * 1.5} ms)`)
      assert.match(proc.logs(), /nothing received from PostgreSQL/)
      writing = false
      await loop
      const finals = new Map(Array.from({ length: written }, (_, i) => [i + 1, 1] as [number, number]))
      await eventually(() => consumer.messages, (m) => allArrived(m, finals), 60_000, 'every row in Kafka').catch(() => undefined)
      const report = checkDelivery(consumer.messages, finals)
      console.log(`dead link: ${report.written} rows written, ${report.delivered} messages, ${report.duplicates} duplicates, ${report.missing.length} missing`)
      assert.deepEqual(report.missing.slice(0, 20), [], `missing rows (${report.missing.length})`)
    } finally {
      writing = false
      await loop.catch(() => undefined)
      await writer.end()
      await consumer.stop()
      await proc.kill('SIGKILL')
      link.close()
      await dropSlotWhenFree(env, `rowcast_${table}`, 30_000)
    }
  })
})
