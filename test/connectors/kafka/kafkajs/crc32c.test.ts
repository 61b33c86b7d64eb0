import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { crc32c } from '../../../../connectors/kafka/kafkajs/crc32c.ts'

const require = createRequire(import.meta.url)
const kafkajsCrc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (bytes: Buffer) => number

test('CRC-32C: the standard check value, and what kafkajs computes for every length and alignment', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
  assert.equal(crc32c(Buffer.alloc(0)), 0)
  for (let length = 0; length <= 70; length++) {
    for (const offset of [0, 1, 3, 5]) {
      const bytes = randomBytes(length + offset).subarray(offset)
      assert.equal(crc32c(bytes), kafkajsCrc32C(bytes), `length ${length}, offset ${offset}`)
    }
  }
  const large = randomBytes(1_000_003)
  assert.equal(crc32c(large), kafkajsCrc32C(large))
  assert.equal(crc32c(Buffer.alloc(4_096, 0xff)), kafkajsCrc32C(Buffer.alloc(4_096, 0xff)))
})
