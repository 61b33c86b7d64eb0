#!/usr/bin/env node
// rowcast runs from dist/rowcast.mjs, one file bundled by esbuild (`npm run build`, also on `npm install`):
// no compiler in the process, ~20 MiB less resident. When that bundle is missing or older than a source
// file (an edit not yet built), the TypeScript sources run through tsx instead, so nothing stale ever runs.
import { readdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'

// When allocation is fast, V8 lets the old generation grow to ~4x what survives a full collection: for
// rowcast's ~30 MiB of live heap, ~120 MiB of mostly garbage. A fixed growing factor keeps the peak resident
// set near 200 MB under full load, for a few % more CPU (bench/README.md). It is read at every collection, so
// setting it here, before the heap has grown, takes effect. ROWCAST_HEAP_GROWING_PERCENT=0: V8's own heuristics.
const growingPercent = Number(process.env.ROWCAST_HEAP_GROWING_PERCENT ?? 100)
const heapFlagGiven = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => /heap-growing-percent|max-old-space-size/.test(a))
if (growingPercent > 0 && !heapFlagGiven) setFlagsFromString(`--heap-growing-percent=${growingPercent}`)

const root = fileURLToPath(new URL('..', import.meta.url))
const bundle = `${root}dist/rowcast.mjs`

function newestSource(path) {
  const stat = statSync(path, { throwIfNoEntry: false })
  if (stat === undefined) return 0 // a package installed without its sources: the bundle is all there is
  if (!stat.isDirectory()) return path.endsWith('.ts') ? stat.mtimeMs : 0
  let newest = 0
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestSource(`${path}/${entry}`))
  return newest
}

function bundleIsFresh() {
  try {
    const built = statSync(bundle).mtimeMs
    return ['index.ts', 'core', 'config', 'connectors', 'operators', 'pipeline', 'observability', 'daemon'].every((p) => newestSource(`${root}${p}`) <= built)
  } catch {
    return false
  }
}

let main
if (bundleIsFresh()) {
  ;({ main } = await import(bundle))
} else {
  const { register } = await import('tsx/esm/api')
  register()
  ;({ main } = await import('../daemon/cli.ts'))
}
process.exitCode = await main(process.argv)
