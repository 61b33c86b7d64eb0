import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Telemetry } from '../../core/telemetry.ts'
import { createMetrics } from '../../observability/metrics.ts'

test('metrics: rowcast_sync_state says parked while the sync is parked, then its own state again', async () => {
  const telemetry = new Telemetry()
  const metrics = createMetrics(telemetry)
  const states = async () => Object.fromEntries((await metrics.registry.getSingleMetric('rowcast_sync_state')!.get()).values.filter((v) => v.labels.sync === 'orders').map((v) => [v.labels.state, v.value]))
  telemetry.emit('state', { sync: 'orders', state: 'degraded', kind: 'topic-missing' })
  telemetry.emit('parked', { sync: 'orders', slot: 'g', parked: true, position: 1n })
  assert.deepEqual([(await states()).parked, (await states()).degraded, metrics.syncStates().get('orders')], [1, 0, 'parked'])
  telemetry.emit('state', { sync: 'orders', state: 'streaming' })
  assert.deepEqual([(await states()).parked, (await states()).streaming], [1, 0])
  telemetry.emit('parked', { sync: 'orders', slot: 'g', parked: false, position: 2n })
  assert.deepEqual([(await states()).parked, (await states()).streaming, metrics.syncStates().get('orders')], [0, 1, 'streaming'])
  metrics.close()
})
