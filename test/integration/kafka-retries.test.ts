import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { configYaml, consume, createTopics, eventually, sql, stack, uniqueName } from '../support/harness.ts'
import { checkDelivery, allArrived } from '../support/delivery-check.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, stackCommand, startWriter } from '../support/rowcast-process.ts'

/**
 * An idempotent request that fails is retried as it was (no OUT_OF_ORDER_SEQUENCE_NUMBER), with the broker frozen
 * and killed under rows of 4 KB. (Record batches within max.message.bytes: kafka-size.test.ts.)
 */

/** `count` random characters: incompressible, so sizes are what they say. */
const pad = (count: number) => randomBytes(count).toString('base64').slice(0, count)

async function finalsOf(env: StackEnv, table: string): Promise<Map<number, number>> {
  const result = await sql(env, `SELECT id, n FROM ${table}`)
  return new Map(result.rows.map((r: { id: number; n: number }) => [r.id, r.n]))
}

/** A table of (id, n, pad); pad stays in the row (no TOAST: updates resend it; at most ~8 KB). */
async function table(env: StackEnv, prefix: string): Promise<string> {
  const name = uniqueName(prefix)
  await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
  await sql(env, `ALTER TABLE ${name} ALTER COLUMN pad SET STORAGE PLAIN`)
  return name
}

function syncYaml(name: string, topic: string): string {
  return `
  - name: ${name}
    model: { table: public.${name} }
    topic: ${topic}
    key: id
    message: { mapping: { id: id, n: n, pad: pad } }
`
}

describe('idempotent retries', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  /** The stack's Kafka broker process (the pid file `stack.sh up` wrote). */
  function brokerPid(): number {
    return Number(readFileSync(join(new URL('../..', import.meta.url).pathname, '.stack/kafka.pid'), 'utf8').trim())
  }

  test('broker frozen and killed in the middle of requests, with a steady writer: nothing lost, no OUT_OF_ORDER_SEQUENCE_NUMBER, per-key order kept', { timeout: 300_000 }, async () => {
    const KEYS = 8
    const name = await table(env, 'size_retry')
    await sql(env, `INSERT INTO ${name} SELECT g, 0, $1 FROM generate_series(1, ${KEYS}) g`, [pad(4_000)])
    await createTopics(env, [name], 3)
    const port = await freePort()
    // Short request timeouts: kafkajs gives up on a frozen broker within seconds, and the sink retries.
    // Requests under 1 MiB: no record batch can be too large, whatever the sizing does.
    const config = join(mkdtempSync(join(tmpdir(), 'rowcast-test-')), 'rowcast.yaml')
    writeFileSync(config, configYaml(env, syncYaml(name, name), {
      destination: '    requestTimeoutMs: 1500\n    connectionTimeoutMs: 1500',
      root: `http:\n  port: ${port}\nlimits: { maxRequestBytes: 900000 }`,
    }))
    const proc = spawnRowcast(config, port)
    let writer: ReturnType<typeof startWriter> | null = null
    const seen = new Set<string>()
    let watching = true
    const watch = (async () => {
      while (watching) {
        for (const state of Object.values((await proc.states()) ?? {})) seen.add(state)
        await new Promise((r) => setTimeout(r, 250))
      }
    })()
    let logs = ''
    try {
      await eventually(() => proc.states(), (s) => s?.[name] === 'streaming', 60_000, 'streaming')
      writer = startWriter(env, name, KEYS, 2) // once the slot exists: changes before it are not the sync's
      for (let i = 0; i < 2; i++) {
        await new Promise((r) => setTimeout(r, 2_000))
        // Frozen (SIGSTOP): requests sent meanwhile wait in the broker's socket buffers and are written when it
        // resumes, after the client gave up on them.
        const pid = brokerPid()
        process.kill(pid, 'SIGSTOP')
        await new Promise((r) => setTimeout(r, 12_000))
        process.kill(pid, 'SIGCONT')
      }
      await new Promise((r) => setTimeout(r, 3_000))
      await stackCommand('kafka-kill')
      await new Promise((r) => setTimeout(r, 3_000))
      await stackCommand('kafka-start')
      await new Promise((r) => setTimeout(r, 5_000))
      const written = await writer.stop()
      writer = null
      const finals = await finalsOf(env, name)
      const consumer = await consume(env, [name])
      try {
        await eventually(() => consumer.messages, (m) => allArrived(m, finals), 120_000, 'every committed change in Kafka').catch(() => undefined)
        watching = false
        await watch
        logs = proc.logs()
        const report = checkDelivery(consumer.messages, finals)
        console.log(`idempotent retries: ${report.written} changes committed (${written.commits} acknowledged to the writer), ${report.delivered} delivered, ${report.duplicates} duplicates; states seen: ${[...seen].join(', ')}`)
        const refused = logs.split('\n').filter((l) => /OUT_OF_ORDER_SEQUENCE_NUMBER|out of order sequence/i.test(l))
        assert.deepEqual(refused.map((l) => l.slice(0, 400)), [], 'no OUT_OF_ORDER_SEQUENCE_NUMBER')
        assert.ok(!seen.has('failed'), `the sync never failed (states seen: ${[...seen].join(', ')}); logs: ${logs.slice(-3_000)}`)
        const notable = logs.split('\n').filter((l) => /"level":(40|50)/.test(l) && !/REPLICA IDENTITY|Limiting retries/.test(l)).slice(-15).join('\n')
        assert.deepEqual({ missing: report.missing.length, outOfOrder: report.outOfOrder }, { missing: 0, outOfOrder: [] }, `missing ${report.missing.slice(0, 20).join(' ')}; warnings: ${notable.slice(-4_000)}`)
        assert.ok(seen.has('degraded'), 'the outages were noticed')
        assert.ok(report.written > 200, `the writer committed enough changes (${report.written})`)
      } finally {
        await consumer.stop()
      }
    } finally {
      watching = false
      await writer?.stop()
      await proc.kill('SIGKILL')
      await dropSlotWhenFree(env, `rowcast_${name}`)
    }
  })
})
