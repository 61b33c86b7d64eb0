import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { checkOperatorOptions, loadOperators } from '../../daemon/load-operators.ts'
import { ConfigError } from '../../core/errors.ts'
import type { OperatorInsertions } from '../../pipeline/steps.ts'

describe('loadOperators', () => {
  test('groups the modules by insertion point, in the order listed; a bare path goes to the end', async () => {
    const loaded = await loadOperators([
      { module: 'examples/custom-operator/mask-emails.ts', after: 'handleRowErrors' },
      { module: 'examples/custom-operator/uppercase-emails.ts', after: 'filterTriggers' },
      { module: './examples/custom-operator/mask-emails.ts', after: 'handleRowErrors' },
    ], process.cwd(), 0)
    assert.deepEqual(Object.keys(loaded), ['afterHandleRowErrors', 'afterFilterTriggers'])
    assert.equal(loaded.afterHandleRowErrors?.length, 2)
    assert.equal(typeof loaded.afterFilterTriggers?.[0], 'function')
  })

  test('a module that cannot be loaded, or exports no function, is a ConfigError naming its item', async () => {
    await assert.rejects(loadOperators([{ module: 'no/such/module.ts', after: 'composeMessage' }], process.cwd(), 2), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.equal(error.issues[0].path, 'syncs[2].operators[0]')
      assert.match(error.issues[0].message, /cannot load .*no\/such\/module\.ts/)
      return true
    })
    await assert.rejects(loadOperators([{ module: 'examples/users.sql', after: 'composeMessage' }], process.cwd(), 0), ConfigError)
  })
})

describe('checkOperatorOptions', () => {
  test('operators for an unknown sync or at an unknown point are refused, each with its path', () => {
    assert.doesNotThrow(() => checkOperatorOptions(['users'], { users: { afterComposeMessage: [] } }))
    assert.throws(() => checkOperatorOptions(['users'], { orders: {}, users: { afterCompose: [] } as OperatorInsertions }), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.deepEqual(error.issues.map((i) => i.path), ['operators.orders', 'operators.users.afterCompose'])
      assert.match(error.issues[1].message, /afterComposeMessage/)
      return true
    })
  })
})
