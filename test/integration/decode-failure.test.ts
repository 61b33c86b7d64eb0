import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, writeConfig } from '../support/rowcast-process.ts'

/**
 * A replication message the decoder cannot read fails its own sync, not the process. The genuine case used:
 * a column named "__proto__" added while the sync streams (the decoder refuses it: it would poison every row
 * object). Before: an uncaught exception in the replication socket's data handler ended the daemon, with every
 * other sync, at the same LSN after every restart.
 */
describe('a decoder exception', () => {
  let env: StackEnv
  const slots: string[] = []
  before(async () => {
    env = await stack()
  })
  after(async () => {
    for (const slot of slots) await dropSlotWhenFree(env, slot)
  })

  test('fails only its sync, with the LSN, the relation and the message type; the other sync keeps delivering', { timeout: 120_000 }, async () => {
    const broken = uniqueName('decodebad')
    const healthy = uniqueName('decodeok')
    slots.push(`rowcast_${broken}`, `rowcast_${healthy}`)
    await sql(env, `CREATE TABLE ${broken} (id int PRIMARY KEY, tags text[])`)
    await sql(env, `CREATE TABLE ${healthy} (id int PRIMARY KEY, body text)`)
    await createTopics(env, [broken, healthy], 1)
    const port = await freePort()
    const sync = (name: string, columns: string) => `  - name: ${name}\n    model: { table: public.${name} }\n    topic: ${name}\n    initialSync: skip\n    message: { mapping: { ${columns} } }\n`
    const file = writeConfig(env, sync(broken, 'id: id, tags: tags') + sync(healthy, 'id: id, body: body'), port)
    const daemon = spawnRowcast(file, port)
    const consumer = await consume(env, [healthy])
    try {
      await eventually(() => daemon.states(), (s) => s?.[broken] === 'streaming' && s[healthy] === 'streaming', 60_000, 'both syncs streaming')
      await sql(env, `INSERT INTO ${broken} VALUES (1, '{a,b}')`)
      await sql(env, `ALTER TABLE ${broken} ADD COLUMN "__proto__" int`)
      await sql(env, `INSERT INTO ${broken} VALUES (2, '{c,d}', 7)`)
      const body = 'x'.repeat(4096)
      for (let id = 1; id <= 50; id++) await sql(env, `INSERT INTO ${healthy} VALUES ($1, $2)`, [id, body])

      const states = await eventually(() => daemon.states(), (s) => s?.[broken] === 'failed', 30_000, `sync ${broken} failed (logs: ${daemon.logs().slice(-2000)})`)
      assert.equal(states?.[healthy], 'streaming')
      await consumer.waitFor(50, 30_000)
      assert.equal(new Set(consumer.messages.map((m) => (JSON.parse(m.value) as { id: number }).id)).size, 50, 'every row of the other sync delivered')
      const failure = daemon.logs().split('\n').find((line) => line.includes('PG_DECODE_FAILED'))
      assert.ok(failure !== undefined, daemon.logs().slice(-3000))
      assert.match(failure, new RegExp(`cannot decode pgoutput RELATION message of public\\.${broken} at LSN [0-9A-F]+/[0-9A-F]+( \\(the last position before it\\))?: column \\\\"__proto__\\\\" of public\\.${broken} cannot be streamed`))
      assert.doesNotMatch(failure, /at LSN 0\/0/, 'a real position, not the 0/0 PostgreSQL sends RELATION messages at')
      assert.equal((await daemon.states()) === null, false, 'the daemon is still running')
    } finally {
      await consumer.stop()
      await daemon.kill('SIGKILL')
    }
  })
})
