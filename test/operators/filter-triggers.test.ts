import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { filterTriggers, triggersSchema } from '../../operators/filter-triggers.ts'
import type { ModelChange } from '../../core/changes.ts'
import type { ChangeType } from '../../core/changes.ts'
import { batch, marbles } from './marbles.ts'

const change = (type: ChangeType, id: number): ModelChange => ({ type, table: 'public.t', row: { id }, previous: null, key: String(id), lsn: `0/${id}` })

describe('filterTriggers', () => {
  const a = change('added', 1)
  const c = change('changed', 2)
  const r = change('removed', 3)

  for (const [triggers, kept] of [
    [['added'], [a]],
    [['changed'], [c]],
    [['removed'], [r]],
    [['added', 'changed'], [a, c]],
    [['changed', 'removed'], [c, r]],
    [['added', 'removed'], [a, r]],
    [['added', 'changed', 'removed'], [a, c, r]],
  ] as [ChangeType[], ModelChange[]][]) {
    test(`[${triggers.join(', ')}] keeps only those changes, in order`, () => {
      const filtered: number[] = []
      marbles().run(({ cold, expectObservable }) => {
        const source = cold('x-y|', { x: batch([a, c, r], null, 1), y: batch([r, c, a], 900n, 1) })
        expectObservable(source.pipe(filterTriggers(triggers, (n) => filtered.push(n)))).toBe('x-y|', {
          x: batch(kept, null, 1),
          y: batch([...kept].reverse(), 900n, 1),
        })
      })
      assert.deepEqual(filtered, kept.length === 3 ? [] : [3 - kept.length, 3 - kept.length])
    })
  }

  test('a batch emptied by the triggers is still emitted: the commit LSN must reach the checkpoint', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source = cold('--x|', { x: batch([c, r], 1234n, 9) })
      expectObservable(source.pipe(filterTriggers(['added']))).toBe('--x|', { x: batch<ModelChange>([], 1234n, 9) })
    })
  })

  test('the schema defaults to all three and refuses duplicates and unknown triggers', () => {
    assert.deepEqual(triggersSchema.parse(undefined), ['added', 'changed', 'removed'])
    assert.equal(triggersSchema.safeParse(['added', 'added']).success, false)
    assert.equal(triggersSchema.safeParse(['upserted']).success, false)
    assert.equal(triggersSchema.safeParse([]).success, false)
  })
})
