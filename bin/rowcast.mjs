#!/usr/bin/env node
// The `rowcast` command runs the built code only: dist/cli.js, bundled by esbuild (`npm run build`; `npm install`
// of the repository builds it, and the package ships it). No compiler in the process: ~20 MiB less resident.
// To run the TypeScript sources instead, without a build: `npm run dev -- <arguments>`.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'

// When allocation is fast, V8 lets the old generation grow to ~4x what survives a full collection: for
// rowcast's ~30 MiB of live heap, ~120 MiB of mostly garbage. A fixed growing factor keeps the peak resident
// set near 200 MB under full load, for a few % more CPU (bench/README.md). It is read at every collection, so
// setting it here, before the heap has grown, takes effect. ROWCAST_HEAP_GROWING_PERCENT=0: V8's own heuristics.
const growingPercent = Number(process.env.ROWCAST_HEAP_GROWING_PERCENT ?? 100)
const heapFlagGiven = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => /heap-growing-percent|max-old-space-size/.test(a))
if (growingPercent > 0 && !heapFlagGiven) setFlagsFromString(`--heap-growing-percent=${growingPercent}`)

const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  const root = fileURLToPath(new URL('..', import.meta.url)).replace(/[\\/]$/, '')
  process.stderr.write(`rowcast: ${fileURLToPath(cli)} is missing: run \`npm run build\` in ${root} (or \`npm run dev -- <arguments>\` to run the sources)\n`)
  process.exit(1)
}
const { main } = await import(cli.href)
process.exitCode = await main(process.argv)
