import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { ColumnInfo } from '../../../core/changes.ts'
import { RelationShapes, type ShapeOptions } from '../../../connectors/postgres/relation-shape.ts'

const INT4 = 23
const INT8 = 20
const TEXT = 25
const NUMERIC = 1700
const VARCHAR = 1043

const col = (name: string, typeName: string, typeOid: number): ColumnInfo => ({ name, typeName, typeOid, nullable: true })
const model = [col('id', 'int4', INT4), col('age', 'int4', INT4), col('nick', 'text', TEXT)]
const shapes = (options: Partial<ShapeOptions> = {}) =>
  new RelationShapes({ model, streamed: ['id', 'age', 'nick'], projected: false, policy: 'fail', required: ['id'], fixedSchema: false, ...options })
const relation = (...columns: [string, number][]) => columns.map(([name, typeOid]) => ({ name, typeOid }))
/** The values the plan's parsers give for one text per column. */
const decode = (parsers: ReturnType<RelationShapes['plan']>['parsers'], texts: string[]) => texts.map((t, i) => parsers[i]?.(t))

describe('RelationShapes: each Relation message against the model the sync was built for', () => {
  test('the same shape: the model parsers, nothing to say', () => {
    const plan = shapes().plan('public.t', relation(['id', INT4], ['age', INT4], ['nick', TEXT]))
    assert.deepEqual([plan.stop, plan.followed], [null, []])
    assert.deepEqual(decode(plan.parsers, ['1', '42', 'x']), [1, 42, 'x'])
  })

  test('a type change is decoded by the new type: text stays text, numeric keeps its text, int8 past 2^53 is exact', () => {
    const plan = shapes({ policy: 'follow' }).plan('public.t', relation(['id', INT8], ['age', TEXT], ['nick', NUMERIC]))
    assert.equal(plan.stop, null)
    assert.deepEqual(decode(plan.parsers, ['9007199254740993', 'hello', '1.50']), ['9007199254740993', 'hello', '1.50'])
    assert.deepEqual(plan.followed, ['column "id" changed type from int4 to int8', 'column "age" changed type from int4 to text', 'column "nick" changed type from text to numeric'])
  })

  test('fail: an incompatible type change stops naming table, column and change; a compatible one is followed', () => {
    const plan = shapes().plan('public.t', relation(['id', INT8], ['age', TEXT], ['nick', VARCHAR]))
    assert.match(plan.stop ?? '', /^schema change on public\.t: column "age" changed type from int4 to text\. .*schemaChanges: follow/)
    assert.deepEqual(plan.followed, ['column "id" changed type from int4 to int8', 'column "nick" changed type from text to varchar'])
  })

  test('a schema registered at start-up: any type change stops, even under follow', () => {
    const plan = shapes({ policy: 'follow', fixedSchema: true }).plan('public.t', relation(['id', INT4], ['age', INT8], ['nick', TEXT]))
    assert.match(plan.stop ?? '', /column "age" changed type from int4 to int8, but its values are encoded with the schema registered at start-up/)
  })

  test('a rename keeps its place; a drop does not; fail stops on both', () => {
    const renamed = shapes().plan('public.t', relation(['id', INT4], ['years', INT4], ['nick', TEXT]))
    assert.match(renamed.stop ?? '', /column "age" renamed to "years"/)
    const dropped = shapes().plan('public.t', relation(['id', INT4], ['nick', TEXT]))
    assert.match(dropped.stop ?? '', /column "age" dropped/)
  })

  test('follow: a dropped column has no parser (absent, never null), a renamed one appears under its new name', () => {
    const s = shapes({ policy: 'follow' })
    const plan = s.plan('public.t', relation(['id', INT4], ['years', INT4], ['nick', TEXT]))
    assert.equal(plan.stop, null)
    assert.deepEqual(plan.followed, ['column "age" renamed to "years"'])
    assert.deepEqual(decode(plan.parsers, ['1', '42', 'x']), [1, 42, 'x'])
  })

  test('a column the config names stops the sync when it goes, whatever the policy', () => {
    const plan = shapes({ policy: 'follow', required: ['id', 'age'] }).plan('public.t', relation(['id', INT4], ['nick', TEXT]))
    assert.match(plan.stop ?? '', /column "age" dropped, which the sync's config names/)
  })

  test('an added column is decoded by its type without a projection, skipped with one, and reported once', () => {
    const s = shapes()
    const plan = s.plan('public.t', relation(['id', INT4], ['age', INT4], ['nick', TEXT], ['score', INT8]))
    assert.deepEqual([plan.stop, plan.followed], [null, ['column "score" added']])
    assert.deepEqual(decode(plan.parsers, ['1', '2', 'x', '12345678901234567890']), [1, 2, 'x', '12345678901234567890'])
    assert.deepEqual(s.plan('public.t', relation(['id', INT4], ['age', INT4], ['nick', TEXT], ['score', INT8])).followed, [])
    const projected = shapes({ projected: true }).plan('public.t', relation(['id', INT4], ['age', INT4], ['nick', TEXT], ['score', INT8]))
    assert.deepEqual([projected.parsers[3], projected.followed], [null, []])
  })

  test('a type rowcast does not know by OID (an enum, a domain) is its text', () => {
    const plan = shapes({ policy: 'follow' }).plan('public.t', relation(['id', INT4], ['age', 16_384], ['nick', TEXT]))
    assert.deepEqual(decode(plan.parsers, ['1', 'happy', 'x']), [1, 'happy', 'x'])
    assert.match(plan.followed[0] ?? '', /from int4 to oid 16384/)
  })
})
