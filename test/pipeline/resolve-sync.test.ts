import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { TableInfo } from '../../connectors/postgres/catalog.ts'
import { syncConfigSchema } from '../../config/root-schema.ts'
import { ConfigError } from '../../core/errors.ts'
import { resolveSync } from '../../pipeline/resolve-sync.ts'

const columns = [{ name: 'uid', typeOid: 23, typeName: 'int4', nullable: false }, { name: 'n', typeOid: 23, typeName: 'int4', nullable: false }]
const keyless = (replicaIdentity: TableInfo['replicaIdentity']): TableInfo => ({
  name: 'public.t', columns, generatedColumns: [], primaryKey: [], replicaIdentity,
  identityColumns: replicaIdentity === 'full' ? ['uid', 'n'] : [], estimatedRows: 0,
})
const sync = syncConfigSchema.parse({ name: 't', model: { table: 'public.t' }, topic: 't', key: 'uid', initialSync: 'backfill', message: { mapping: { uid: 'uid' } } })

test('a table without a key streams under REPLICA IDENTITY FULL: no key columns, the snapshot reads page ranges', () => {
  const resolved = resolveSync(keyless('full'), sync, 0)
  assert.deepEqual(resolved.model.keyColumns, [])
  assert.equal(sync.snapshot.parallelism, 1, 'snapshot.parallelism defaults to 1')
})

test('a table without a key and without REPLICA IDENTITY FULL is refused, naming the path and the way out', () => {
  assert.throws(() => resolveSync(keyless('default'), sync, 0), (error: unknown) => {
    assert.ok(error instanceof ConfigError)
    const issue = error.issues.find((i) => i.path === 'syncs[0].model.primaryKey')
    assert.match(issue?.message ?? '', /has no primary key: .*REPLICA IDENTITY FULL/)
    return true
  })
})

test('a view, or a partitioned table without a key, is refused at start-up with what to do instead', () => {
  const refused = (table: TableInfo, path: string, message: RegExp) => assert.throws(() => resolveSync(table, sync, 0), (error: unknown) => {
    assert.ok(error instanceof ConfigError)
    assert.match(error.issues.find((i) => i.path === path)?.message ?? JSON.stringify(error.issues), message)
    return true
  })
  refused({ ...keyless('nothing'), kind: 'v' }, 'syncs[0].model.table', /public\.t is a view: .*streams only tables/)
  refused({ ...keyless('full'), kind: 'p' }, 'syncs[0].model.primaryKey', /partitioned table without a primary key/)
})
