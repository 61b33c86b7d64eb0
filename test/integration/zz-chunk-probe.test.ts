import { test } from 'node:test'
import assert from 'node:assert/strict'
import { configFor, consume, createTopics, runDaemon, sql, stack, streaming, uniqueName } from '../support/harness.ts'
import { finish, sleep } from '../support/sync-helpers.ts'

test('probe: chunked transaction with a missing topic', async () => {
  const env = await stack()
  const table = uniqueName('chunkp')
  const [t1, missing] = [`${table}_one`, `${table}_late`]
  await sql(env, `CREATE TABLE ${table} (id int PRIMARY KEY, dest text NOT NULL)`)
  await createTopics(env, [t1], 1)
  const config = configFor(env, `
  - name: ${table}
    model: { table: public.${table} }
    topic: { column: dest }
    message: { mapping: { id: id } }`, `
limits: { retryMaxMs: 1000, maxBatchRows: 2 }`)
  const daemon = await runDaemon(config)
  const consumer = await consume(env, [t1])
  try {
    await streaming(daemon)
    await sql(env, `INSERT INTO ${table} SELECT g, CASE WHEN g = 3000 THEN '${missing}' ELSE '${t1}' END FROM generate_series(1, 3000) g`)
    await sleep(6000)
    console.log('sent before the missing topic exists:', consumer.messages.length)
    await createTopics(env, [missing], 1)
    await consumer.waitFor(2999)
  } finally {
    await consumer.stop()
    await finish(env, daemon)
  }
})
