import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { createMetrics } from '../../observability/metrics.ts'
import { Telemetry } from '../../core/telemetry.ts'
import { repoRoot } from '../../scripts/stack-env.ts'

/**
 * deploy/grafana/rowcast.json and deploy/prometheus/rules.yaml name only metrics the daemon exports (taken from its
 * own registry), and promtool accepts the rules and their unit tests. promtool comes from Debian's `prometheus`
 * package (.ci/run installs it); without it this test fails rather than skips.
 */

const metrics = createMetrics(new Telemetry())
after(() => metrics.close())

/** Every series name /metrics can show: a histogram's name is also its _bucket, _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>()
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name)
    if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix)
  }
  return names
}

const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan'])

/** The metric names a PromQL expression selects: identifiers outside strings, numbers, label matchers, ranges and grouping lists, not called. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/(?<![A-Za-z0-9_:])\d[\w.]*/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names: string[] = []
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = stripped.slice(match.index + match[0].length)
    if (/^\s*\(/.test(after) || PROMQL_WORDS.has(match[0].toLowerCase())) continue
    names.push(match[0])
  }
  return names
}

interface Panel {
  title?: string
  type: string
  targets?: { expr: string }[]
  panels?: Panel[]
}

const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy', 'grafana', 'rowcast.json'), 'utf8')) as { panels: Panel[]; templating: { list: { name: string; definition?: string }[] } }
const rules = parse(readFileSync(join(repoRoot, 'deploy', 'prometheus', 'rules.yaml'), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] }

function panelExpressions(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = []
  const walk = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) out.push({ where: `panel "${panel.title}"`, expr: target.expr })
      walk(panel.panels ?? [])
    }
  }
  walk(dashboard.panels)
  for (const variable of dashboard.templating.list) {
    const labelValues = /^label_values\((\w+),\s*\w+\)$/.exec(variable.definition ?? '')
    if (variable.definition !== undefined) {
      assert.ok(labelValues, `variable ${variable.name}: label_values(metric, label) expected, got ${variable.definition}`)
      out.push({ where: `variable ${variable.name}`, expr: labelValues[1] })
    }
  }
  return out
}

describe('the Grafana dashboard and the Prometheus rules', () => {
  test('the PromQL name extraction finds metrics and only metrics', () => {
    assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (sync, le) (rate(rowcast_x_bucket{sync=~"$sync", a="b c"}[$__rate_interval])))'), ['rowcast_x_bucket'])
    assert.deepEqual(metricNames('max by (sync) (a{s="x"}) * 2 or b offset 5m > 1e3 and on (sync) c'), ['a', 'b', 'c'])
  })

  test('every metric a dashboard panel, variable or alert rule uses is exported by the daemon', async () => {
    const exported = await exportedNames()
    const uses = [...panelExpressions(), ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.alert}`, expr: r.expr })))]
    assert.ok(uses.length > 20, `${uses.length} expressions`)
    const unknown = uses.flatMap(({ where, expr }) => {
      const names = metricNames(expr)
      assert.ok(names.length > 0, `${where} selects no metric: ${expr}`)
      return names.filter((name) => !exported.has(name)).map((name) => `${where}: ${name}`)
    })
    assert.deepEqual(unknown, [])
  })

  test('the dashboard covers throughput, latency, lag, in-flight, row errors and state; the rules lag, stuck, degraded and failed', () => {
    const used = new Set(panelExpressions().flatMap(({ expr }) => metricNames(expr)))
    for (const name of ['rowcast_messages_produced_total', 'rowcast_end_to_end_latency_seconds_bucket', 'rowcast_replication_lag_bytes', 'rowcast_replication_lag_seconds',
      'rowcast_in_flight_messages', 'rowcast_in_flight_bytes', 'rowcast_rows_rejected_total', 'rowcast_sync_state',
      'rowcast_slot_retained_wal_bytes', 'rowcast_slot_safe_wal_bytes', 'rowcast_slot_wal_status', 'rowcast_slot_spill_txns_total', 'rowcast_slot_spill_bytes_total',
      'rowcast_slot_stream_txns_total', 'rowcast_slot_stream_bytes_total', 'rowcast_slot_txns_total', 'rowcast_slot_decoded_bytes_total', 'rowcast_seconds_since_last_delivery']) {
      assert.ok(used.has(name), `a panel shows ${name}`)
    }
    assert.ok(dashboard.panels.some((p) => p.type === 'heatmap' && p.targets?.some((t) => t.expr.includes('rowcast_end_to_end_latency_seconds_bucket'))), 'a latency heatmap')
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert))
    for (const alert of ['RowcastReplicationLagBytes', 'RowcastReplicationLagSeconds', 'RowcastSyncStuck', 'RowcastSyncDegraded', 'RowcastSyncFailed', 'RowcastSlotRetainedWal', 'RowcastSlotWalAtRisk']) assert.ok(alerts.includes(alert), alert)
  })

  test('promtool check rules accepts the rules, and promtool test rules sees them fire (and stay quiet)', async () => {
    const run = promisify(execFile)
    const dir = join(repoRoot, 'deploy', 'prometheus')
    const check = await run('promtool', ['check', 'rules', 'rules.yaml'], { cwd: dir }).catch((error: NodeJS.ErrnoException & { stderr?: string; stdout?: string }) => {
      if (error.code === 'ENOENT') assert.fail('promtool is missing: apt-get install -y prometheus (.ci/run installs it)')
      assert.fail(`promtool check rules: ${error.stdout ?? ''}${error.stderr ?? ''}`)
    })
    assert.match(check.stdout, /SUCCESS: \d+ rules found/)
    const unit = await run('promtool', ['test', 'rules', 'rules.test.yaml'], { cwd: dir }).catch((error: { stdout?: string; stderr?: string }) => assert.fail(`promtool test rules: ${error.stdout ?? ''}${error.stderr ?? ''}`))
    assert.match(unit.stdout, /SUCCESS/)
  })
})
