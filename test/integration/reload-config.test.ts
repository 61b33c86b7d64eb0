import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, TEST_GROUP, uniqueName, type Received } from '../support/harness.ts'
import { wrongKeys } from '../support/last-message-verdict.ts'
import { dropSlotWhenFree, freePort, spawnRowcast, startMixedWriter, writeConfig } from '../support/rowcast-process.ts'

/**
 * Syncs added to, changed in and removed from a running daemon (`kill -HUP`, the shipped CLI): the new sync
 * backfills its table beside its stream while a writer changes both tables; the running sync is not restarted;
 * a config that does not parse, or that changes more than `syncs:`, is refused and the daemon keeps running.
 */
const ROWS = 3_000

describe('config reload (SIGHUP)', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  function syncYaml(table: string, initialSync: 'backfill' | 'skip', extra = ''): string {
    return `
  - name: ${table}
    model: { table: public.${table} }
    topic: ${table}
    key: id
    initialSync: ${initialSync}
    snapshot: { chunkRows: 1000 }
    message:
      template: '{"id": {{row.id}}, "n": {{row.n}}, "type": "{{event.type}}"${extra}}'
`
  }

  /** Keys whose last message is not the row in PostgreSQL. */
  async function verdict(table: string, messages: readonly Received[]): Promise<string[]> {
    const rows = (await sql(env, `SELECT id, n FROM ${table}`)).rows as { id: number; n: number }[]
    return wrongKeys(new Map(rows.map((r) => [r.id, r.n])), messages)
  }

  function logLines(logs: string, msg: string): Record<string, unknown>[] {
    return logs.split('\n').filter((l) => l.includes(`"msg":"${msg}`)).map((l) => JSON.parse(l) as Record<string, unknown>)
  }

  test('a sync added while running backfills beside its stream; the running sync goes on; bad reloads are refused', { timeout: 600_000 }, async (t) => {
    const began = Date.now()
    const step = (what: string) => console.log(`reload test: ${what} after ${Math.round((Date.now() - began) / 1000)} s`)
    const first = uniqueName('reload_a')
    const added = uniqueName('reload_b')
    for (const table of [first, added]) {
      // Rows of 4 KiB: the added sync's backfill is larger than one Kafka request.
      await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, n int NOT NULL, pad text NOT NULL)`)
      await sql(env, `INSERT INTO ${table} SELECT g, 0, repeat(md5(g::text), 128) FROM generate_series(1, ${ROWS}) g`)
    }
    await createTopics(env, [first, added])
    const port = await freePort()
    const config = writeConfig(env, syncYaml(first, 'backfill'), port)
    const original = readFileSync(config, 'utf8')
    const consumer = await consume(env, [first, added])
    const proc = spawnRowcast(config, port)
    t.after(async () => {
      await proc.kill('SIGKILL')
      await consumer.stop()
      await dropSlotWhenFree(env, TEST_GROUP) // its syncs share the file's stream group (the default)
    })
    await eventually(() => proc.states(), (s) => s?.[first] === 'streaming', 60_000, `${first} streaming`)
    const writes = startMixedWriter(env, [first, added], ROWS)
    step('first sync streaming')
    try {
      // Add a sync: its table is backfilled beside its own stream while the writer changes it.
      writeFileSync(config, original + syncYaml(added, 'backfill'))
      proc.signal('SIGHUP')
      await eventually(() => proc.states(), (s) => s?.[added] === 'streaming', 60_000, `${added} streaming after SIGHUP\n${proc.logs()}`)
      assert.equal(proc.exitCode(), null, 'the daemon still runs')
    step('added sync streaming')
      await eventually(async () => (await sql(env, 'SELECT backfill FROM _rowcast.sync_state WHERE sync = $1', [added])).rows[0]?.backfill as string | undefined, (s) => s === 'done', 120_000, `${added} backfill done`)
    } finally {
      await writes.stop()
    }
    for (const table of [first, added]) {
      const wrong = await eventually(() => verdict(table, consumer.messages.filter((m) => m.topic === table)), (w) => w.length === 0, 60_000, `${table}: last message per key equals PostgreSQL`).catch(() => verdict(table, consumer.messages.filter((m) => m.topic === table)))
      assert.deepEqual(wrong.slice(0, 10), [], `${table}: ${wrong.length} keys whose last message is not the row in PostgreSQL`)
    }
    const reloaded = logLines(proc.logs(), 'config reloaded')
    step('both verdicts done')
    assert.deepEqual(reloaded.map((l) => [l.added, l.changed, l.removed]), [[[added], [], []]], 'the running sync was neither restarted nor stopped')

    // A config that does not parse: refused with the path of the problem; both syncs go on.
    writeFileSync(config, original.replace('topic:', 'topicc:') + syncYaml(added, 'backfill'))
    proc.signal('SIGHUP')
    const refused = await eventually(() => logLines(proc.logs(), 'config reload refused'), (l) => l.length === 1, 30_000, 'refused reload logged')
    assert.match(JSON.stringify(refused[0]), /syncs\[0\]/, `the refusal names the config path: ${JSON.stringify(refused[0])}`)
    // A change outside syncs: refused, naming it.
    writeFileSync(config, original.replace('clientId: rowcast-test', 'clientId: rowcast-other') + syncYaml(added, 'backfill'))
    proc.signal('SIGHUP')
    const outside = await eventually(() => logLines(proc.logs(), 'config reload refused'), (l) => l.length === 2, 30_000, 'second refused reload logged')
    assert.match(JSON.stringify(outside[1]), /destination/, `the refusal names what changed: ${JSON.stringify(outside[1])}`)
    assert.equal(proc.exitCode(), null, 'the daemon still runs after refused reloads')
    assert.deepEqual(await proc.states(), { [first]: 'streaming', [added]: 'streaming' })

    // Change the added sync (its message) and remove the first one.
    step('bad reloads refused')
    writeFileSync(config, writeConfigText(original, first) + syncYaml(added, 'backfill', ', "v": 2'))
    proc.signal('SIGHUP')
    await eventually(() => logLines(proc.logs(), 'config reloaded'), (l) => l.length === 2, 30_000, 'second reload logged')
    const second = logLines(proc.logs(), 'config reloaded')[1]
    assert.deepEqual([second.added, second.changed, second.removed], [[], [added], [first]])
    await eventually(() => proc.states(), (s) => s !== null && s[first] === undefined && s[added] === 'streaming', 60_000, 'only the changed sync runs')
    await sql(env, `UPDATE ${added} SET n = n + 1 WHERE id = 2`)
    const v2 = await eventually(() => consumer.messages.filter((m) => m.topic === added && m.value.includes('"v": 2')), (m) => m.length >= 1, 30_000, 'the changed sync uses its new message')
    assert.equal((JSON.parse(v2[0].value) as { id: number }).id, 2)
    assert.equal(proc.exitCode(), null)
  })

  /** The config text without its syncs' entries (the first sync removed). */
  function writeConfigText(original: string, removedSync: string): string {
    const cut = original.indexOf(`  - name: ${removedSync}`)
    return original.slice(0, cut)
  }
})
