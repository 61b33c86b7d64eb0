import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { formatTable, histogramQuantile, quantile } from '../../bench/report.ts'
import { countTransactions, workloadShape } from '../../bench/workload.ts'
import { summariseProfile } from '../../bench/profile-summary.ts'
import { readFootprint } from '../../bench/rowcast-process.ts'

/** The benchmark's pure helpers: the figures it prints are only as good as these. */
describe('bench helpers', () => {
  test('workloadShape splits 40/50/10 and countTransactions follows the DO block', () => {
    assert.deepEqual(workloadShape(1_000_000), { inserts: 400_000, updates: 500_000, deletes: 100_000 })
    assert.deepEqual(workloadShape(100_000), { inserts: 40_000, updates: 50_000, deletes: 10_000 })
    // 10 inserts: 1, 5, then 4 (cut at the end); 12 updates: 100 -> cut to 10 rows, then 2; 1 delete.
    assert.equal(countTransactions({ inserts: 10, updates: 12, deletes: 1 }), 3 + 2 + 1)
  })

  test('quantile is nearest-rank', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1)
    assert.equal(quantile(sorted, 0.5), 50)
    assert.equal(quantile(sorted, 0.99), 99)
    assert.equal(quantile(sorted, 1), 100)
    assert.ok(Number.isNaN(quantile([], 0.5)))
  })

  test('histogramQuantile interpolates within the bucket of the rank, for one sync only', () => {
    const text = [
      'rowcast_x_seconds_bucket{le="0.01",sync="a"} 0',
      'rowcast_x_seconds_bucket{le="0.1",sync="a"} 50',
      'rowcast_x_seconds_bucket{le="1",sync="a"} 100',
      'rowcast_x_seconds_bucket{le="+Inf",sync="a"} 100',
      'rowcast_x_seconds_bucket{le="0.01",sync="b"} 100',
      'rowcast_x_seconds_bucket{le="+Inf",sync="b"} 100',
    ].join('\n')
    assert.ok(Math.abs(histogramQuantile(text, 'rowcast_x_seconds', 'a', 0.5) - 0.1) < 1e-9)
    assert.ok(Math.abs(histogramQuantile(text, 'rowcast_x_seconds', 'a', 0.75) - 0.55) < 1e-9)
    assert.ok(histogramQuantile(text, 'rowcast_x_seconds', 'b', 0.5) <= 0.01)
    assert.ok(Number.isNaN(histogramQuantile(text, 'rowcast_x_seconds', 'c', 0.5)))
  })

  test('formatTable prints the ratio to the ceiling', () => {
    const out = formatTable([{ measure: 'm', value: 50, unit: 'msg/s', ceiling: { name: 'c', value: 200 } }])
    assert.match(out, /0\.25×/)
  })

  test('summariseProfile attributes self time to functions and packages, idle apart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-test-'))
    const file = join(dir, 'p.cpuprofile')
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0, scriptId: '0', columnNumber: 0 })
    writeFileSync(file, JSON.stringify({
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), hitCount: 0, children: [2, 3, 4] },
        { id: 2, callFrame: frame('encode', 'file:///x/node_modules/kafkajs/src/a.js'), hitCount: 6 },
        { id: 3, callFrame: frame('parse', 'file:///work/main/connectors/postgres/values.ts'), hitCount: 2 },
        { id: 4, callFrame: frame('(idle)', ''), hitCount: 2 },
      ],
      samples: Array.from({ length: 10 }, (_, i) => i),
      timeDeltas: Array.from({ length: 10 }, () => 1000),
    }))
    const summary = summariseProfile(file)
    assert.equal(summary.idleShare, 0.2)
    assert.equal(summary.files[0].name, 'kafkajs')
    assert.equal(summary.files[0].share, 0.75)
    assert.equal(summary.files[1].name, 'connectors/postgres/values.ts')
  })

  test('readFootprint reads this process, and null for a process that is gone', () => {
    const own = readFootprint(process.pid)
    assert.ok(own !== null && own.peakRssMiB >= own.rssMiB * 0.5 && own.cpuSeconds > 0)
    assert.equal(readFootprint(2 ** 22 + 7), null)
  })
})
