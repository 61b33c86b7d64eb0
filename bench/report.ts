/** The benchmark's printed table: each figure beside the ceiling it is compared with, and their ratio. */

export interface ReportRow {
  measure: string
  value: number
  unit: string
  /** The ceiling (or floor, for latencies) this figure is compared with. */
  ceiling?: { name: string; value: number }
  /** rowcast's own footprint during the measure. */
  peakRssMiB?: number
  cpuSeconds?: number
  note?: string
}

export function formatTable(rows: readonly ReportRow[]): string {
  const header = ['measure', 'rowcast', 'compared with', 'ratio', 'peak RSS', 'CPU s', 'note']
  const body = rows.map((r) => [
    r.measure,
    `${fmt(r.value)} ${r.unit}`,
    r.ceiling === undefined ? '' : `${r.ceiling.name}: ${fmt(r.ceiling.value)}`,
    r.ceiling === undefined || r.ceiling.value === 0 ? '' : `${(r.value / r.ceiling.value).toFixed(2)}×`,
    r.peakRssMiB === undefined ? '' : `${r.peakRssMiB.toFixed(0)} MiB`,
    r.cpuSeconds === undefined ? '' : r.cpuSeconds.toFixed(1),
    r.note ?? '',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 || (i >= 3 && i <= 5) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ').trimEnd()
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n')
}

function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US')
  return n.toFixed(n >= 10 ? 1 : 2)
}

/** The q-quantile of sorted numbers (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

/** Approximate quantiles from a Prometheus histogram's cumulative buckets (linear within a bucket), in seconds. */
export function histogramQuantile(metricsText: string, metric: string, sync: string, q: number): number {
  const buckets: [number, number][] = []
  const re = new RegExp(`^${metric}_bucket\\{([^}]*)\\} (\\S+)$`, 'gm')
  for (const match of metricsText.matchAll(re)) {
    const labels = match[1]
    if (!labels.includes(`sync="${sync}"`)) continue
    const le = /le="([^"]+)"/.exec(labels)?.[1]
    if (le === undefined) continue
    buckets.push([le === '+Inf' ? Infinity : Number(le), Number(match[2])])
  }
  buckets.sort((a, b) => a[0] - b[0])
  const total = buckets.at(-1)?.[1] ?? 0
  if (total === 0) return NaN
  const rank = q * total
  let prevLe = 0
  let prevCount = 0
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount)
    }
    prevLe = le
    prevCount = count
  }
  return prevLe
}
