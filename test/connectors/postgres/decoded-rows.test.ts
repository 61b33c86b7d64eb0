import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { ColumnInfo } from '../../../core/changes.ts'
import { ContainedDecoder } from '../../../connectors/postgres/contained-decoder.ts'
import { DecodedRows } from '../../../connectors/postgres/decoded-rows.ts'
import { PgoutputDecoder } from '../../../connectors/postgres/pgoutput.ts'
import { RelationShapes, type ShapeOptions } from '../../../connectors/postgres/relation-shape.ts'

const INT4 = 23
const TEXT = 25
const col = (name: string, typeName: string, typeOid: number): ColumnInfo => ({ name, typeName, typeOid, nullable: true })
const ALL = [col('id', 'int4', INT4), col('n', 'int4', INT4), col('pad', 'text', TEXT)]

/** A member's decoder, as group-member.ts makes it. */
function decoder(shape: Partial<ShapeOptions> = {}): ContainedDecoder {
  const shapes = new RelationShapes({ model: ALL, streamed: ['id', 'n', 'pad'], projected: true, policy: 'fail', required: [], fixedSchema: false, ...shape })
  return new ContainedDecoder(new PgoutputDecoder({ publication: 'p', shapes }))
}

/** A Relation message: id, schema, name, replica identity, columns (flags, name, type OID, type modifier). */
function relation(id: number, columns: [string, number, boolean][]): Buffer {
  const parts = [Buffer.from([0x52]), u32(id), Buffer.from('public\0t\0'), Buffer.from([0x64]), u16(columns.length)]
  for (const [name, oid, key] of columns) parts.push(Buffer.from([key ? 1 : 0]), Buffer.from(`${name}\0`), u32(oid), u32(0xffffffff))
  return Buffer.concat(parts)
}

/** An INSERT (text values) or an UPDATE with the old row (REPLICA IDENTITY FULL). */
function row(kind: 'I' | 'U', id: number, values: string[], old?: string[]): Buffer {
  const tuple = (texts: string[]) => Buffer.concat([u16(texts.length), ...texts.flatMap((t) => [Buffer.from('t'), u32(Buffer.byteLength(t)), Buffer.from(t)])])
  return Buffer.concat([Buffer.from(kind), u32(id), ...(old === undefined ? [] : [Buffer.from('O'), tuple(old)]), Buffer.from('N'), tuple(values)])
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

const TABLE: [string, number, boolean][] = [['id', INT4, true], ['n', INT4, false], ['pad', TEXT, false]]

describe('DecodedRows: a row message decoded once for the members that read its table alike', () => {
  test('members of the same shape get one decoding, frozen since several syncs share it; equal to what each decoder gives alone', () => {
    const members = [decoder(), decoder(), decoder()]
    for (const d of members) d.parse(relation(7, TABLE))
    const rows = new DecodedRows()
    const buffer = row('U', 7, ['1', '2', 'x'], ['1', '1', 'x'])
    rows.next(members.length)
    const got = members.map((d) => rows.decode(d, buffer))
    assert.equal(got[1], got[0])
    assert.equal(got[2], got[0])
    const alone = decoder()
    alone.parse(relation(7, TABLE))
    assert.deepEqual(got[0], alone.parse(buffer))
    const message = got[0]
    assert.ok(message.tag === 'update' && Object.isFrozen(message.new) && Object.isFrozen(message.old))
    assert.throws(() => {
      ;(message as { new: Record<string, unknown> }).new.n = 5
    }, TypeError)
  })

  test('one member: decoded as before, not frozen', () => {
    const d = decoder()
    d.parse(relation(7, TABLE))
    const rows = new DecodedRows()
    rows.next(1)
    const message = rows.decode(d, row('I', 7, ['1', '2', 'x']))
    assert.ok(message.tag === 'insert' && !Object.isFrozen(message.new))
    assert.deepEqual(message.new, { id: 1, n: 2, pad: 'x' })
  })

  test('members with other projections or column types each get the rows their own decoder gives', () => {
    const narrow = decoder({ model: [ALL[0]!, ALL[1]!], streamed: ['id', 'n', 'pad'] })
    const asText = decoder({ model: [ALL[0]!, col('n', 'text', TEXT), ALL[2]!] })
    const members = [decoder(), narrow, asText, decoder()]
    for (const d of members) d.parse(relation(7, TABLE))
    const rows = new DecodedRows()
    const buffer = row('I', 7, ['1', '2', 'x'])
    rows.next(members.length)
    const got = members.map((d) => rows.decode(d, buffer))
    const rowOf = (i: number) => (got[i]!.tag === 'insert' ? got[i].new : null)
    assert.deepEqual([rowOf(0), rowOf(1), rowOf(2)], [{ id: 1, n: 2, pad: 'x' }, { id: 1, n: 2 }, { id: 1, n: 2, pad: 'x' }])
    assert.equal(typeof rowOf(2)?.n, 'number', 'a model column of another type still reads the stream by its type OID')
    assert.notEqual(got[1], got[0])
    assert.equal(got[2], got[0], 'decoded alike (the model\'s type does not change how the stream is read): shared')
    assert.equal(got[3], got[0])
  })

  test('the next row message is decoded afresh, even in the same (reused) buffer', () => {
    const members = [decoder(), decoder()]
    for (const d of members) d.parse(relation(7, TABLE))
    const rows = new DecodedRows()
    const buffer = row('I', 7, ['1', '2', 'x'])
    rows.next(2)
    const first = rows.decode(members[0]!, buffer)
    row('I', 7, ['3', '4', 'y']).copy(buffer)
    rows.next(2)
    const second = rows.decode(members[1]!, buffer)
    assert.notEqual(second, first)
    assert.deepEqual(second.tag === 'insert' ? second.new : null, { id: 3, n: 4, pad: 'y' })
  })

  test('a member whose decoder has not seen the relation fails its own way (undecodable), the others are not affected', () => {
    const seen = decoder()
    seen.parse(relation(7, TABLE))
    const rows = new DecodedRows()
    const buffer = row('I', 7, ['1', '2', 'x'])
    rows.next(2)
    assert.equal(rows.decode(decoder(), buffer).tag, 'undecodable')
    assert.equal(rows.decode(seen, buffer).tag, 'insert')
  })
})
