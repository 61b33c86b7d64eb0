import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PgoutputDecoder } from '../../../connectors/postgres/pgoutput.ts'
import { RelationShapes } from '../../../connectors/postgres/relation-shape.ts'
import { WATERMARK_PREFIX } from '../../../connectors/postgres/watermark-merge.ts'
import { HEARTBEAT_PREFIX } from '../../../connectors/postgres/stream.ts'

/** A pgoutput logical message ('M'): flags, LSN, prefix, content length, content. */
function logicalMessage(transactional: boolean, lsn: bigint, prefix: string, content: Buffer): Buffer {
  const head = Buffer.alloc(1 + 1 + 8)
  head[0] = 0x4d
  head[1] = transactional ? 1 : 0
  head.writeBigUInt64BE(lsn, 2)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(content.length)
  return Buffer.concat([head, Buffer.from(`${prefix}\0`), length, content])
}

const decoder = (messagePrefix?: string) => new PgoutputDecoder({
  publication: 'p', ...(messagePrefix === undefined ? {} : { messagePrefix }),
  shapes: new RelationShapes({ model: [], streamed: [], projected: true, policy: 'fail', required: [], fixedSchema: false }),
})

test('a logical message whose prefix starts with the sync\'s is decoded with its flag, LSN and content bytes', () => {
  const content = Buffer.from([0x7b, 0x7d, 0xff])
  assert.deepEqual(decoder('orders.').parse(logicalMessage(false, 0x1_0000_0010n, 'orders.created', content)), { tag: 'message', transactional: false, lsn: 0x1_0000_0010n, prefix: 'orders.created', content })
  assert.deepEqual(decoder('orders.').parse(logicalMessage(true, 5n, 'orders.', Buffer.alloc(0))), { tag: 'message', transactional: true, lsn: 5n, prefix: 'orders.', content: Buffer.alloc(0) })
})

test('other prefixes, rowcast\'s own, and every message of a table sync are not', () => {
  assert.deepEqual(decoder('orders.').parse(logicalMessage(true, 5n, 'orders', Buffer.from('x'))), { tag: 'other' })
  assert.deepEqual(decoder('orders.').parse(logicalMessage(true, 5n, 'other.orders.x', Buffer.from('x'))), { tag: 'other' })
  assert.deepEqual(decoder('r').parse(logicalMessage(true, 5n, HEARTBEAT_PREFIX, Buffer.alloc(0))), { tag: 'other' })
  assert.deepEqual(decoder('r').parse(logicalMessage(true, 5n, WATERMARK_PREFIX, Buffer.from('a:0:low'))), { tag: 'watermark', content: 'a:0:low' })
  assert.deepEqual(decoder().parse(logicalMessage(true, 5n, 'orders.created', Buffer.from('x'))), { tag: 'other' })
})
