/**
 * Turns a test file that would hang into a failure that says why. Node's test runner waits for each file's
 * process to exit: a handle left open after the tests (a socket, a timer) or an await that never settles keeps
 * a file, and so `npm test`, running until CI's budget ends, with nothing printed about the file. Imported by
 * test/support/harness.ts, so every file on the stack has it; scripts/test.sh's --test-timeout is the backstop
 * for the others (it names the file, not what it waits for).
 */
import { after } from 'node:test'

/** How long a file's process may outlive its tests (its after hooks stop daemons, which drain for up to 15 s). */
const EXIT_GRACE_MS = 60_000
/** A file running longer than this waits for something that will not come (the longest take ~2 min on CI). */
const FILE_BUDGET_MS = 8 * 60_000

const describers: Array<() => string> = []

/** Adds a line to the report (e.g. the states of the daemons the file started). */
export function describeOnHang(describe: () => string): void {
  describers.push(describe)
}

const started = Date.now()
setTimeout(() => fail(`still running after ${FILE_BUDGET_MS / 60_000} min`), FILE_BUDGET_MS).unref()
after(() => {
  setTimeout(() => fail(`its tests ended ${EXIT_GRACE_MS / 1000} s ago, and something keeps its process alive`), EXIT_GRACE_MS).unref()
})

function fail(what: string): void {
  const lines = [`watchdog: ${process.argv[1] ?? 'this test file'} ${what} (${Math.round((Date.now() - started) / 1000)} s since it started). What it waits on:`]
  for (const handle of activeHandles()) lines.push(`  ${describeHandle(handle)}`)
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length // unref'd ones (this watchdog's) are not listed
  if (timers > 0) lines.push(`  ${timers} timer(s) besides (Node does not list their callbacks)`)
  for (const describe of describers) {
    try {
      lines.push(`  ${describe()}`)
    } catch (error) {
      lines.push(`  (a description failed: ${String(error)})`)
    }
  }
  process.stderr.write(`${lines.join('\n')}\n`)
  process.exit(1)
}

function activeHandles(): unknown[] {
  return (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles()
}

/** A socket by its peer (55432 is PostgreSQL, 19092–19095 Kafka). */
function describeHandle(handle: unknown): string {
  const h = handle as { constructor?: { name?: string }; remoteAddress?: string; remotePort?: number; localPort?: number; _handle?: { fd?: number } }
  const kind = h.constructor?.name ?? typeof handle
  if (kind === 'Socket' && h.remotePort !== undefined) return `socket to ${h.remoteAddress}:${h.remotePort} (from port ${h.localPort})`
  if (kind === 'Socket') return `socket fd ${h._handle?.fd ?? '?'} (the runner's pipe when 1 or 2)`
  return kind
}
