import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StackEnv } from '../../scripts/stack-env.ts'
import { consume, createTopics, eventually, sql, stack, TEST_GROUP, uniqueName } from '../support/harness.ts'
import { syncConfirmed } from '../support/sync-helpers.ts'

/** The `rowcast` command as a user runs it: `node bin/rowcast.mjs …` in a child process. */
describe('rowcast CLI', () => {
  let env: StackEnv
  let dir: string
  before(async () => {
    env = await stack()
    dir = mkdtempSync(join(tmpdir(), 'rowcast-cli-'))
  })

  function configFile(name: string, syncs: string, extra = ''): string {
    const file = join(dir, `${name}.yaml`)
    writeFileSync(file, `
source:
  postgres: { url: "${env.ROWCAST_PG_URL}", heartbeatIntervalMs: 1000, statusIntervalMs: 1000, streamGroup: { slot: ${TEST_GROUP} } }
destination:
  kafka: { clientId: rowcast-cli-test, brokers: "${env.KAFKA_BOOTSTRAP_PLAINTEXT}" }
${extra}
syncs:
${syncs}`)
    return file
  }

  function rowcast(args: string[]): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['bin/rowcast.mjs', ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : -1
        resolve({ code, out: stdout + stderr })
      })
    })
  }

  async function table(prefix: string): Promise<string> {
    const name = uniqueName(prefix)
    await sql(env, `CREATE TABLE ${name} (id int PRIMARY KEY, email text)`)
    return name
  }

  test('validate prints every problem of a broken config with its path, schema and database alike, and exits non-zero', async () => {
    const name = await table('clivalid')
    const file = configFile('broken', `
  - name: ${name}
    model: { table: public.${name} }
    topic: ${name}
    triggers: [added, inserted]
    message: { mapping: { customer_id: id, customer_email: emial } }
    colour: blue
  - name: ${name}_2
    model: { table: public.${name}_missing }
    topic: ${name}
    message: { mapping: { id: id } }
`, 'limits: { maxInFlightMessages: -1 }')
    const { code, out } = await rowcast(['validate', '--config', file])
    assert.notEqual(code, 0, out)
    const lines = out.trim().split('\n')
    const expect = [
      /^syncs\[0\]\.triggers\[1\]: .*'inserted'/,
      /^syncs\[0\]: Unrecognized key\(s\) in object: 'colour'/,
      /^limits\.maxInFlightMessages: /,
      new RegExp(`^syncs\\[0\\]\\.message\\.mapping\\.customer_email: column "emial" does not exist in public\\.${name}$`),
      new RegExp(`^syncs\\[1\\]\\.model\\.table: table public\\.${name}_missing does not exist$`),
    ]
    for (const pattern of expect) assert.ok(lines.some((l) => pattern.test(l)), `${pattern} in:\n${out}`)
    assert.equal(lines.length, expect.length, `one line per problem:\n${out}`)
  })

  test('validate on a good config exits 0', async () => {
    const name = await table('cliok')
    const { code, out } = await rowcast(['validate', '--config', configFile('good', `
  - name: ${name}
    model: { table: public.${name} }
    topic: ${name}
    message: { mapping: { customer_id: id, customer_email: email } }
`)])
    assert.equal(code, 0, out)
    assert.match(out, /config ok: 1 sync/)
  })

  test('check prints one line per check and exits non-zero when a topic is missing; setup prints the ALTER TABLE', async () => {
    const name = await table('clicheck')
    const file = configFile('check', `
  - name: ${name}
    model: { table: public.${name} }
    topic: ${name}_absent
    message: { mapping: { id: id } }
`)
    const check = await rowcast(['check', '--config', file])
    assert.notEqual(check.code, 0, check.out)
    const lines = check.out.trim().split('\n')
    assert.ok(lines.every((l) => /^(ok {2}|FAIL) \S/.test(l)), check.out)
    assert.ok(lines.some((l) => /^ok {3}postgres: reachable: PostgreSQL \d+/.test(l)), check.out)
    assert.ok(lines.some((l) => /^ok {3}postgres: wal_level/.test(l)), check.out)
    assert.ok(lines.some((l) => /^ok {3}broker /.test(l)), check.out)
    assert.ok(lines.some((l) => new RegExp(`^FAIL topic ${name}_absent: .*does not exist`).test(l)), check.out)
    assert.equal(lines.filter((l) => l.startsWith('FAIL')).length, 1, check.out)

    await createTopics(env, [`${name}_absent`], 1)
    const again = await rowcast(['check', '--config', file])
    assert.equal(again.code, 0, again.out)

    const setup = await rowcast(['setup', '--config', file])
    assert.equal(setup.code, 0, setup.out)
    assert.equal(setup.out.trim(), `ALTER TABLE public.${name} REPLICA IDENTITY FULL;`)
    const applied = await rowcast(['setup', '--config', file, '--yes'])
    assert.equal(applied.code, 0, applied.out)
    const identity = await sql(env, 'SELECT relreplident FROM pg_class WHERE oid = $1::regclass', [name])
    assert.equal(identity.rows[0].relreplident, 'f')
    assert.equal((await rowcast(['setup', '--config', file])).out.trim(), '', 'nothing left to do')
  })

  test('--help lists every command', async () => {
    const { code, out } = await rowcast(['--help'])
    assert.equal(code, 0, out)
    for (const command of ['run', 'validate', 'check', 'setup', 'resync']) assert.match(out, new RegExp(`^\\s+${command} `, 'm'), out)
  })

  test('run streams until SIGTERM, then drains, confirms the stream group\'s slot past the last row and exits 0', async (t) => {
    const name = await table('clirun')
    await createTopics(env, [name], 1)
    const file = configFile('run', `
  - name: ${name}
    model: { table: public.${name} }
    topic: ${name}
    key: id
    message: { mapping: { id: id, email: email } }
`)
    const consumer = await consume(env, [name])
    const child = spawn(process.execPath, ['bin/rowcast.mjs', 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    let writing = true
    let writer: Promise<void> = Promise.resolve()
    try {
      // The sync shares the file's stream group (the default): its slot and publication are the group's.
      const slot = TEST_GROUP
      const slotState = () => {
        if (child.exitCode !== null) throw new Error(`rowcast run exited with ${child.exitCode}:\n${output.slice(-2_000)}`)
        return sql(env, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot])
      }
      await eventually(slotState, (r) => r.rows[0]?.active === true, 30_000, 'slot active')
      // The group's slot may be active for an earlier test's daemon still: the sync starts (at the server's position)
      // once its cursor is recorded, after the transactions running when it joined have ended.
      await eventually(() => syncConfirmed(env, name), (lsn) => lsn > 0n, 30_000, 'the sync\'s cursor recorded')
      await sql(env, `INSERT INTO ${name} VALUES (1, 'a@example.com')`)
      const [message] = await consumer.waitFor(1, 20_000)
      assert.deepEqual(JSON.parse(message.value), { id: 1, email: 'a@example.com' })
      // Keep writing while rowcast stops: what it delivered and what the slot still holds must add up exactly.
      let written = 1
      writer = (async () => {
        for (let batch = 0; writing && batch < 200; batch++) {
          await sql(env, `INSERT INTO ${name} SELECT i, 'x' FROM generate_series($1::int, $2::int) i`, [written + 1, written + 100])
          written += 100
        }
      })()
      await eventually(() => consumer.messages.length, (n) => n > 100, 20_000, 'rows streaming')
      child.kill('SIGTERM')
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 20_000))])
      writing = false
      await writer
      assert.equal(code, 0, `exit code after SIGTERM; output:\n${output.slice(-2_000)}`)
      await eventually(() => sql(env, 'SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot]), (r) => r.rows[0]?.active === false, 10_000, 'slot released')
      // What the slot would send next: the insert must not be among it (pgoutput 'I' messages of this table: the
      // group's publication holds the tables of the file's other tests too).
      const peeked = await sql(env, `SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2) WHERE substr(data, 1, 1) = 'I'::bytea AND substr(data, 2, 4) = int4send($3::regclass::oid::int)`, [slot, slot, `public.${name}`])
      // pgoutput Insert: 'I', relation oid (4), 'N', column count (2), then 't', length (4), text of the first column (id).
      const pending = peeked.rows.map(({ data }: { data: Buffer }) => data.subarray(13, 13 + data.readInt32BE(9)).toString())
      await new Promise((r) => setTimeout(r, 1_000)) // the consumer catches up
      const delivered = new Set(consumer.messages.map((m) => m.key))
      assert.equal(consumer.messages.length, delivered.size, 'no duplicates')
      assert.ok(!pending.includes('1'), 'the slot is confirmed past the first row')
      assert.ok(!pending.some((id) => delivered.has(id)), 'nothing delivered is left unconfirmed: the drain confirmed it')
      t.diagnostic(`written ${written}, delivered ${delivered.size}, left in the slot ${pending.length}`)
      assert.equal(delivered.size + pending.length, written, `delivered ${delivered.size} + still in the slot ${pending.length} = written ${written}`)
    } finally {
      writing = false
      await writer.catch(() => undefined)
      if (child.exitCode === null) child.kill('SIGKILL')
      await consumer.stop()
    }
  })
})
