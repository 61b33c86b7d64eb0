import { before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StackEnv } from '../../../scripts/stack-env.ts'
import { partitionForKey } from '../../../connectors/kafka/partitioner.ts'
import { javaPartitions } from '../../support/java-partitioner.ts'
import { stack } from '../../support/harness.ts'

/** ~200 keys of every shape: lengths 0..40 (every tail length of murmur2), bytes >= 0x80, unicode of 2, 3 and 4 UTF-8 bytes. */
function sampleKeys(): string[] {
  const keys = ['', 'a', 'ab', 'abc', 'abcd', 'abcde', '0', '1', '-1', '42', '9007199254740993', 'order-1', 'ORDER-1', ' ', '\n', '\u0000', 'é', 'ü', '日本', '日本語', 'Grüße, Jürgen', '😀', 'a😀b', '👩‍👩‍👧', 'ÿÿÿÿ', 'Ω≈ç√∫', '"quoted"', 'back\\slash', '{"json": true}']
  for (let i = 0; i < 60; i++) keys.push(`user-${i}`)
  for (let i = 0; i < 40; i++) keys.push(`${i}`.repeat(i % 7) + 'x'.repeat(i))
  for (let i = 0; i < 40; i++) keys.push(String.fromCodePoint(0x80 + i * 37, 0x400 + i * 101, 0x1f300 + i) + i)
  for (let i = 0; i < 30; i++) keys.push(`${(i * 2654435761) >>> 0}`)
  return keys
}

describe('partitionForKey agrees with Kafka\'s Java partitioner', () => {
  let env: StackEnv
  before(async () => {
    env = await stack()
  })

  for (const partitions of [3, 7, 64]) {
    test(`${partitions} partition(s), ${sampleKeys().length} keys incl. unicode`, async () => {
      const keys = sampleKeys()
      const expected = await javaPartitions(env, partitions, keys)
      const actual = keys.map((k) => partitionForKey(k, partitions))
      const differing = keys.filter((_k, i) => actual[i] !== expected[i])
      assert.deepEqual(differing, [], 'keys whose partition differs from Java\'s')
      assert.deepEqual(actual, expected)
    })
  }
})
