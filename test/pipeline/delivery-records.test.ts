import { test } from 'node:test'
import assert from 'node:assert/strict'
import { SNAPSHOT_ROW_LSN, type OutgoingMessage } from '../../core/changes.ts'
import { Telemetry } from '../../core/telemetry.ts'
import { recordsFor } from './fakes.ts'

function message(lsn: string, topic = 't'): OutgoingMessage {
  return { change: { type: 'added', table: 'public.t', row: { id: 1 }, previous: null, key: '1', lsn }, value: '{}', topic, key: '1', partition: null, headers: null }
}

test('end-to-end latencies are those of changes: snapshot rows (no commit of their own) are counted, not timed', () => {
  const telemetry = new Telemetry()
  const produced: { count: number; endToEndLatenciesMs: readonly number[] }[] = []
  telemetry.on('produced', ({ count, endToEndLatenciesMs }) => void produced.push({ count, endToEndLatenciesMs }))
  const records = recordsFor(telemetry)
  const committed = Date.now() - 40
  records.delivered([
    { message: message('0/16B3748'), partition: 0, offset: 1, commitTime: committed, bytes: 10 },
    { message: message(SNAPSHOT_ROW_LSN), partition: 0, offset: 2, commitTime: Date.now() - 5, bytes: 10 },
    { message: message(SNAPSHOT_ROW_LSN), partition: 0, offset: 3, commitTime: Date.now() - 5, bytes: 10 },
    { message: message('0/16B3790'), partition: 0, offset: 4, commitTime: 0, bytes: 10 }, // no commit time known
  ], 3, { messages: 0, bytes: 0 })
  assert.equal(produced.length, 1)
  assert.equal(produced[0]?.count, 4, 'every message counts as produced')
  assert.equal(produced[0]?.endToEndLatenciesMs.length, 1, 'only the change with a commit time is timed')
  assert.ok((produced[0]?.endToEndLatenciesMs[0] ?? 0) >= 40)
})
