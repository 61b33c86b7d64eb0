import { test } from 'node:test'
import assert from 'node:assert/strict'
import { REFRESH_AHEAD_MS, refreshingCredentials } from '../../../../connectors/kafka/auth/aws-credentials.ts'

/** The refresh rule on its own, with a fake provider and clock (the real chain: aws-credential-chain.test.ts). */

function fakeProvider(expiresAt: (call: number) => number | undefined) {
  const calls: (boolean | undefined)[] = []
  const provider = (options?: { forceRefresh?: boolean }) => {
    calls.push(options?.forceRefresh)
    const n = calls.length
    const expiration = expiresAt(n)
    return Promise.resolve({ accessKeyId: `AKIA${n}`, secretAccessKey: `secret-${n}-abcdefgh`, ...(expiration === undefined ? {} : { expiration: new Date(expiration) }) })
  }
  return { calls, load: () => Promise.resolve(provider) }
}

test('credentials without an expiry are fetched once', async () => {
  const fake = fakeProvider(() => undefined)
  const get = refreshingCredentials(fake.load, () => 0)
  for (let i = 0; i < 3; i++) assert.equal((await get()).accessKeyId, 'AKIA1')
  assert.deepEqual(fake.calls, [undefined])
})

test('temporary credentials are fetched again, forced, once less than the margin remains', async () => {
  let now = 0
  const fake = fakeProvider((n) => n * 3_600_000)
  const get = refreshingCredentials(fake.load, () => now)
  assert.equal((await get()).accessKeyId, 'AKIA1')
  now = 3_600_000 - REFRESH_AHEAD_MS - 1
  assert.equal((await get()).accessKeyId, 'AKIA1')
  now = 3_600_000 - REFRESH_AHEAD_MS
  assert.equal((await get()).accessKeyId, 'AKIA2')
  assert.deepEqual(fake.calls, [undefined, true])
})

test('concurrent authentications share one fetch', async () => {
  const fake = fakeProvider(() => undefined)
  const get = refreshingCredentials(fake.load, () => 0)
  const all = await Promise.all([get(), get(), get()])
  assert.deepEqual(all.map((c) => c.accessKeyId), ['AKIA1', 'AKIA1', 'AKIA1'])
  assert.equal(fake.calls.length, 1)
})
