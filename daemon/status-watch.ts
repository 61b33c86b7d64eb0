import { formatStatus, type SyncStatus } from '../observability/sync-status.ts'

/**
 * `rowcast status --watch`: the live progress of the snapshots, drawn from GET /status. On a terminal one
 * bar per sync, redrawn in place; otherwise (a pipe, a log file) the plain lines of `rowcast status`, each
 * printed when it changed. The CLI fetches; the rendering below is pure.
 */

const ESC = '\u001b['

/** One sync's line on a terminal: `orders  [██████░░░░] 60 %  6,000/10,000 rows  2,000 rows/s  ETA 2 s`. */
export function progressBarLine(sync: string, status: SyncStatus, barWidth = 30, nameWidth = sync.length): string {
  const name = sync.padEnd(nameWidth)
  const { snapshot } = status
  if (snapshot === null) return `${name}  ${status.state}`
  const fraction = snapshot.rowsTotal > 0 ? Math.min(1, snapshot.rowsDone / snapshot.rowsTotal) : 1
  const filled = Math.round(fraction * barWidth)
  const bar = `${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}`
  const percent = `${Math.floor(fraction * 100)} %`.padStart(5)
  const rows = `${count(snapshot.rowsDone)}/${count(snapshot.rowsTotal)} rows`
  const rate = snapshot.rowsPerSecond === null ? '' : `  ${count(snapshot.rowsPerSecond)} rows/s`
  const tail = snapshot.running ? (snapshot.etaSeconds === null ? '  ETA …' : `  ETA ${duration(snapshot.etaSeconds)}`) : '  done'
  return `${name}  [${bar}] ${percent}  ${rows}${rate}${tail}  (${status.state})`
}

/** The terminal frame: every sync's bar line, names aligned. */
export function progressFrame(status: Record<string, SyncStatus>, barWidth = 30): string[] {
  const nameWidth = Math.max(0, ...Object.keys(status).map((s) => s.length))
  return Object.entries(status).map(([sync, s]) => progressBarLine(sync, s, barWidth, nameWidth))
}

/** What redraws `lines` over the `previous` lines drawn before (cursor up, each line cleared), without a final newline. */
export function redraw(previous: number, lines: readonly string[]): string {
  const up = previous > 0 ? `${ESC}${previous}A\r` : ''
  // A frame with fewer lines than the last clears the ones left below it.
  const cleared = [...lines, ...Array<string>(Math.max(0, previous - lines.length)).fill('')]
  return up + cleared.map((line) => `${ESC}2K${line}`).join('\n')
}

/** The plain lines of this poll that differ from the last poll's (all of them the first time). */
export function changedLines(status: Record<string, SyncStatus>, last: Map<string, string>): string[] {
  const lines: string[] = []
  for (const [i, line] of formatStatus(status).entries()) {
    const sync = Object.keys(status)[i]
    if (last.get(sync) === line) continue
    last.set(sync, line)
    lines.push(line)
  }
  return lines
}

/** Whether watching is over: no sync has a snapshot running. */
export function noSnapshotRunning(status: Record<string, SyncStatus>): boolean {
  return Object.values(status).every((s) => s.snapshot === null || !s.snapshot.running)
}

/** 42 s, 3 min 05 s, 2 h 07 min. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`
}

/** `status --watch`: polls until no snapshot runs (exit 0) or the daemon cannot be reached (exit 1). */
export async function watchStatus(read: () => Promise<Record<string, SyncStatus> | null>, print: (line: string) => void, options: { tty: boolean; intervalMs: number }): Promise<number> {
  let drawn = 0
  const last = new Map<string, string>()
  for (;;) {
    const syncs = await read()
    if (syncs === null) return 1
    if (options.tty) {
      const lines = progressFrame(syncs)
      print(redraw(drawn, lines))
      drawn = Math.max(drawn, lines.length)
    } else {
      for (const line of changedLines(syncs, last)) print(line)
    }
    if (noSnapshotRunning(syncs)) return 0
    await new Promise((r) => setTimeout(r, options.intervalMs))
  }
}

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}
