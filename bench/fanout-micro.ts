/**
 * Micro-benchmark of a stream group's fan-out on one core: one table's row messages given to 10 members (each its
 * own decoder and transaction assembly, as group-member.ts), each row decoded by every member (`each`, before
 * decoded-rows.ts) or once for all (`once`). Rows like bench/stream-group.ts's (id int, n int, pad text of 100),
 * UPDATEs in transactions of 1,000. Not a test; run with `node --import tsx bench/fanout-micro.ts [members]`.
 */
import { pino } from 'pino'
import type { ColumnInfo } from '../core/changes.ts'
import { DecodedRows } from '../connectors/postgres/decoded-rows.ts'
import { GroupMember, type MemberHost } from '../connectors/postgres/group-member.ts'

const MEMBERS = Number(process.argv[2] ?? 10)
const TX_ROWS = 1_000
const col = (name: string, typeName: string, typeOid: number): ColumnInfo => ({ name, typeName, typeOid, nullable: false })
const MODEL = [col('id', 'int4', 23), col('n', 'int4', 23), col('pad', 'text', 25)]

const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b }
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b }
const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return b }
const relation = Buffer.concat([Buffer.from('R'), u32(1), Buffer.from('public\0bt\0'), Buffer.from('d'), u16(3),
  ...MODEL.flatMap((c, i) => [Buffer.from([i === 0 ? 1 : 0]), Buffer.from(`${c.name}\0`), u32(c.typeOid), u32(0xffffffff)])])
const update = (id: number, n: number) => {
  const texts = [String(id), String(n), 'x'.repeat(100)]
  return Buffer.concat([Buffer.from('U'), u32(1), Buffer.from('N'), u16(3), ...texts.flatMap((t) => [Buffer.from('t'), u32(t.length), Buffer.from(t)])])
}
const begin = (lsn: bigint, xid: number) => Buffer.concat([Buffer.from('B'), u64(lsn), u64(0n), u32(xid)])
const commit = (lsn: bigint) => Buffer.concat([Buffer.from('C'), Buffer.from([0]), u64(lsn), u64(lsn + 1n), u64(0n)])
const rows = Array.from({ length: TX_ROWS }, (_, i) => update(i + 1, 7))

const host: MemberHost = { attach: () => undefined, detach: () => undefined, confirmed: () => undefined, paused: () => undefined }
const logger = pino({ level: 'silent' })
let received = 0
const members = Array.from({ length: MEMBERS }, (_, i) => {
  const member = new GroupMember({ sync: `s${i}`, table: 'public.bt', publication: 'p', maxBatchRows: 5_000, logger,
    shape: { model: MODEL, streamed: MODEL.map((c) => c.name), projected: true, policy: 'fail', required: [], fixedSchema: false } }, host)
  member.batches(0n).subscribe((batch) => (received += batch.items.length))
  member.feed('0/0', relation)
  return member
})

function transaction(tx: number, shared: DecodedRows | undefined): void {
  const lsn = BigInt(tx) * 1_000_000n
  const b = begin(lsn, tx)
  for (const m of members) m.feed('0/1', b)
  for (const buffer of rows) {
    shared?.next(members.length)
    for (const m of members) m.feed('0/1', buffer, shared)
  }
  const c = commit(lsn)
  for (const m of members) m.feed('0/1', c)
}

let tx = 1
for (const mode of ['each', 'once', 'each', 'once', 'each', 'once']) {
  const shared = mode === 'once' ? new DecodedRows() : undefined
  for (let i = 0; i < 20; i++) transaction(tx++, shared) // warm-up
  received = 0
  const start = process.cpuUsage()
  const t0 = performance.now()
  while (performance.now() - t0 < 3_000) transaction(tx++, shared)
  const cpu = process.cpuUsage(start)
  const micros = (cpu.user + cpu.system) / received
  console.log(`${mode}: ${MEMBERS} members, ${received} changes out, ${micros.toFixed(3)} µs CPU per change out (decode + assembly)`)
}
