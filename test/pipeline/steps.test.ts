import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { firstValueFrom, map, of, toArray, type OperatorFunction } from 'rxjs'
import {
  INSERTION_POINTS, STEP_NAMES, buildSteps, composeSteps, insertionPoint, mergeInsertions,
  type InsertedOperator, type OperatorInsertions, type PipelineSteps,
} from '../../pipeline/steps.ts'
import type { ResolvedSync } from '../../pipeline/resolve-sync.ts'
import { syncConfigSchema } from '../../config/root-schema.ts'
import { compileComposer } from '../../operators/compose-message.ts'
import { isRejected, mapItems, type Batch, type ModelChange, type OutgoingMessage, type RejectedChange, type SourceChange } from '../../core/changes.ts'
import type { ComposedMessage } from '../../operators/route-topic.ts'
import { columns } from '../operators/message-fixtures.ts'
import { batch } from '../operators/marbles.ts'

/** Fake steps: each one writes its name on every item's trail, so the output shows what ran, in which order. */
type Trail = string[]
const mark = (name: string): OperatorFunction<Batch<Trail>, Batch<Trail>> => map((b) => mapItems(b, (trail) => [...trail, name]))
const fakeSteps = Object.fromEntries(STEP_NAMES.map((step) => [step, mark(step)])) as unknown as PipelineSteps

async function trailThrough(insertions: Record<string, OperatorFunction<Batch<Trail>, Batch<Trail>>[]>): Promise<Trail> {
  const run = composeSteps(fakeSteps, insertions as unknown as OperatorInsertions) as unknown as OperatorFunction<Batch<Trail>, Batch<Trail>>
  const [out] = await firstValueFrom(of(batch<Trail>([[]])).pipe(run, toArray()))
  return out.items[0]
}

describe('composeSteps: custom operators at named points', () => {
  test('with nothing inserted, every built-in step runs, in order', async () => {
    assert.deepEqual(await trailThrough({}), [...STEP_NAMES])
  })

  for (const [i, step] of STEP_NAMES.entries()) {
    const point = insertionPoint(step)
    test(`${point} runs right after ${step}${i + 1 < STEP_NAMES.length ? ` and before ${STEP_NAMES[i + 1]}` : ', at the end'}`, async () => {
      const expected = [...STEP_NAMES.slice(0, i + 1), 'mine', ...STEP_NAMES.slice(i + 1)]
      assert.deepEqual(await trailThrough({ [point]: [mark('mine')] }), expected)
    })
  }

  test('several operators at one point run in the order given; points combine', async () => {
    const trail = await trailThrough({ afterComposeMessage: [mark('a'), mark('b')], afterClassify: [mark('c')] })
    assert.deepEqual(trail, ['classify', 'c', 'filterTriggers', 'composeMessage', 'a', 'b', 'routeTopic', 'encodeValue', 'setKeyPartitionHeaders', 'handleRowErrors'])
  })

  test('mergeInsertions keeps both sets, the first one first at each point', async () => {
    const merged = mergeInsertions({ afterRouteTopic: [mark('library')] } as never, { afterRouteTopic: [mark('file')], afterHandleRowErrors: [mark('end')] } as never)
    assert.deepEqual(Object.keys(merged), ['afterRouteTopic', 'afterHandleRowErrors'])
    const trail = await trailThrough(merged as never)
    assert.deepEqual(trail.slice(3), ['routeTopic', 'library', 'file', 'encodeValue', 'setKeyPartitionHeaders', 'handleRowErrors', 'end'])
  })

  test('the points are named after the steps', () => {
    assert.deepEqual(INSERTION_POINTS, ['afterClassify', 'afterFilterTriggers', 'afterComposeMessage', 'afterRouteTopic', 'afterEncodeValue', 'afterSetKeyPartitionHeaders', 'afterHandleRowErrors'])
  })
})

describe('buildSteps + composeSteps with the real steps', () => {
  const cols = columns('id:int4', 'email:text')
  const sync = syncConfigSchema.parse({ name: 'users', model: { table: 'public.users' }, topic: 'users', key: 'id', message: { mapping: { id: 'id', email: 'email' } } })
  const resolved: ResolvedSync = {
    config: sync,
    table: { name: 'public.users', columns: cols, generatedColumns: [], primaryKey: ['id'], replicaIdentity: 'full', identityColumns: ['id', 'email'], estimatedRows: 0 },
    columns: cols,
    model: { table: 'public.users', columns: ['id', 'email'], keyColumns: ['id'] },
    composer: compileComposer(sync.message ?? { mapping: {}, format: 'json' }, cols, 'syncs[0].message', 'public.users'),
    publication: { name: 'rowcast_users', table: 'public.users', columns: null, filter: null },
    slot: 'rowcast_users',
    shape: { model: cols, streamed: ['id', 'email'], projected: false, policy: 'fail', required: ['id'], fixedSchema: false },
    warnings: [],
    messages: null,
  }
  const insert = (id: number, email: string): SourceChange => ({ op: 'insert', table: 'public.users', row: { id, email }, previous: null, previousIsFull: false, lsn: '0/1' })

  async function send(operators: OperatorInsertions): Promise<OutgoingMessage[]> {
    const out = await firstValueFrom(of(batch([insert(1, 'a@example.com'), insert(2, 'b@example.com')])).pipe(composeSteps(buildSteps(resolved), operators), toArray()))
    return out.flatMap((b) => b.items)
  }

  test('an operator after filterTriggers changes the row the message is composed from; topic and key are still set', async () => {
    const upper: InsertedOperator<ModelChange> = map((b) => mapItems(b, (change) => ({ ...change, row: { ...change.row, email: String(change.row.email).toUpperCase() } })))
    const [message] = await send({ afterFilterTriggers: [upper] })
    assert.deepEqual(JSON.parse(String(message.value)), { id: 1, email: 'A@EXAMPLE.COM' })
    assert.equal(message.topic, 'users')
    assert.equal(message.key, '1')
  })

  test('an operator after composeMessage sees composed values and rejected changes; dropping an item drops its message only', async () => {
    const seen: (ComposedMessage | RejectedChange)[] = []
    const dropSecond: InsertedOperator<ComposedMessage | RejectedChange> = map((b) =>
      mapItems(b, (item) => {
        seen.push(item)
        return !isRejected(item) && item.change.row.id === 2 ? undefined : item
      }),
    )
    const messages = await send({ afterComposeMessage: [dropSecond] })
    assert.equal(seen.length, 2)
    assert.deepEqual(messages.map((m) => [m.topic, m.key]), [['users', '1']])
  })

  test('operators are typed by their point: one over messages does not fit after filterTriggers', () => {
    const overMessages: InsertedOperator<OutgoingMessage> = map((b) => b)
    // @ts-expect-error after filterTriggers, batches of ModelChange flow, not messages
    const wrong: OperatorInsertions = { afterFilterTriggers: [overMessages] }
    assert.ok(wrong)
  })
})
