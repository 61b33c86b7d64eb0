import type { Lsn } from '../../core/lsn.ts'

const PG_EPOCH_MS = 946_684_800_000n

/**
 * A Standby Status Update ('r') reporting `lsn` as written, flushed and applied. Written by hand because
 * pg-logical-replication's acknowledge() reports lsn+1, which can skip a transaction whose commit record
 * starts exactly at the previous commit's end.
 */
export function standbyStatus(lsn: Lsn, replyRequested = false): Buffer {
  const buffer = Buffer.alloc(34)
  buffer.write('r', 0)
  buffer.writeBigUInt64BE(lsn, 1)
  buffer.writeBigUInt64BE(lsn, 9)
  buffer.writeBigUInt64BE(lsn, 17)
  buffer.writeBigInt64BE((BigInt(Date.now()) - PG_EPOCH_MS) * 1000n, 25)
  buffer.writeUInt8(replyRequested ? 1 : 0, 33)
  return buffer
}
