import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configYaml, createTopics, eventually, sql, stack, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { dropSlotWhenFree, freePort, spawnRowcast } from '../support/rowcast-process.ts'

/**
 * SIGTERM while a sync is still starting (Kafka refusing or not answering) ends the shipped CLI within the
 * stop bound: a rolling deploy must never need SIGKILL. Nothing was delivered, so nothing may be confirmed.
 */
const STOP_BOUND_MS = 30_000

describe('SIGTERM during start-up', () => {
  let env: StackEnv
  let silent: Server
  const sockets = new Set<Socket>()
  const slots: string[] = []
  before(async () => {
    env = await stack()
    // A broker that accepts connections and never answers (a hung host, a black-holing proxy).
    silent = createServer((socket) => {
      sockets.add(socket)
      socket.on('error', () => undefined)
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => silent.close(() => resolve()))
    for (const slot of [...slots, TEST_GROUP]) await dropSlotWhenFree(env, slot)
  })

  async function stopWithin(broker: () => Promise<string>, fault: (table: string) => Promise<() => Promise<void>> = async () => async () => undefined): Promise<void> {
    const name = uniqueName('stopstart')
    slots.push(`rowcast_${name}`)
    await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, body text)`)
    await sql(env, `INSERT INTO ${name} SELECT g, repeat('x', 4096) FROM generate_series(1, 200) g`)
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'rowcast-stop-'))
    const file = join(dir, 'rowcast.yaml')
    const syncYaml = `  - name: ${name}\n    model: { table: public.${name} }\n    topic: ${name}\n    initialSync: skip\n    message: { mapping: { id: id } }\n`
    writeFileSync(file, configYaml({ ...env, KAFKA_BOOTSTRAP_PLAINTEXT: await broker() }, syncYaml, { root: `http:\n  port: ${port}` }))
    const daemon = spawnRowcast(file, port)
    await eventually(() => daemon.states(), (s) => s !== null, 30_000, `the daemon's HTTP endpoint (logs: ${daemon.logs()})`)
    let heal: () => Promise<void> = async () => undefined
    try {
      await new Promise((r) => setTimeout(r, 5_000))
      heal = await fault(name)
      const beforeUpdate = (await sql(env, 'SELECT pg_current_wal_lsn()::text AS lsn')).rows[0].lsn as string
      await sql(env, `UPDATE ${name} SET body = repeat('y', 4096) WHERE id <= 50`) // writes while it stops
      const sent = Date.now()
      const exited = daemon.kill('SIGTERM').then(() => Date.now() - sent)
      const tookMs = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), STOP_BOUND_MS + 2_000))])
      console.log(`exit after SIGTERM: ${tookMs === null ? `> ${STOP_BOUND_MS + 2_000}` : tookMs} ms`)
      assert.ok(tookMs !== null && tookMs <= STOP_BOUND_MS, `still running ${STOP_BOUND_MS + 2_000} ms after SIGTERM:\n${daemon.logs().slice(-3000)}`)
      if (tookMs === null) return
      // Nothing reached Kafka: the slot (if it was made) confirmed nothing past where it began.
      const { rows } = await sql(env, 'SELECT confirmed_flush_lsn::text AS c, restart_lsn::text AS r FROM pg_replication_slots WHERE slot_name = $1', [`rowcast_${name}`])
      if (rows.length > 0) {
        const { rows: changes } = await sql(env, `SELECT count(*)::int AS n FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)`, [`rowcast_${name}`, `rowcast_${name}`])
        assert.ok((changes[0] as { n: number }).n > 0, 'the update written before SIGTERM is still in the slot (not confirmed)')
      }
      // It shares the file's stream group (the default): if it had joined before the update, its cursor is not past
      // the update, and the group's slot still holds the update's rows.
      const joined = (await sql(env, 'SELECT confirmed_lsn::text AS c FROM _rowcast.sync_state WHERE sync = $1 AND slot = $2 AND confirmed_lsn <= $3::pg_lsn', [name, TEST_GROUP, beforeUpdate]).catch(() => ({ rows: [] }))).rows
      if (joined.length > 0) {
        await eventually(() => sql(env, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [TEST_GROUP]), (r) => r.rows[0]?.active === false, 10_000, 'the group\'s slot released')
        const { rows: cursor } = await sql(env, 'SELECT confirmed_lsn <= $2::pg_lsn AS before FROM _rowcast.sync_state WHERE sync = $1', [name, beforeUpdate])
        assert.equal(cursor[0]?.before, true, 'the sync\'s cursor is not past the update')
        const { rows: changes } = await sql(env, `SELECT count(*)::int AS n FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2) WHERE substr(data, 1, 1) = 'U'::bytea AND substr(data, 2, 4) = int4send($3::regclass::oid::int)`, [TEST_GROUP, TEST_GROUP, `public.${name}`])
        assert.ok((changes[0] as { n: number }).n > 0, 'the update written before SIGTERM is still in the group\'s slot (not confirmed)')
      }
    } finally {
      await daemon.kill('SIGKILL')
      await heal()
    }
  }

  test('with the broker port refusing connections', { timeout: 90_000 }, async () => {
    await stopWithin(async () => `127.0.0.1:${await freePort()}`)
  })

  test('with a broker that accepts and never answers', { timeout: 90_000 }, async () => {
    await stopWithin(async () => `127.0.0.1:${(silent.address() as { port: number }).port}`)
  })

  test('with the broker frozen (SIGSTOP) while a backlog is in flight', { timeout: 120_000 }, async () => {
    await stopWithin(async () => env.KAFKA_BOOTSTRAP_PLAINTEXT, async (table) => {
      await createTopics(env, [table], 1)
      await sql(env, `UPDATE ${table} SET body = repeat('z', 4096)`)
      await new Promise((r) => setTimeout(r, 1_000))
      const kafka = kafkaPid()
      process.kill(kafka, 'SIGSTOP')
      await sql(env, `UPDATE ${table} SET body = repeat('w', 4096)`)
      await new Promise((r) => setTimeout(r, 2_000))
      return async () => void process.kill(kafka, 'SIGCONT')
    })
  })
})

/** The stack's Kafka broker process (the listener of its plaintext port). */
function kafkaPid(): number {
  const line = execFileSync('ss', ['-Hltnp', 'sport = :19092'], { encoding: 'utf8' })
  const pid = /pid=(\d+)/.exec(line)?.[1]
  assert.ok(pid !== undefined, `no Kafka listener: ${line}`)
  return Number(pid)
}
