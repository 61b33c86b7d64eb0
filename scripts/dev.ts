/**
 * `npm run dev -- <arguments>` (e.g. `npm run dev -- run --config rowcast.yaml`): the CLI from its TypeScript
 * sources through tsx, no build needed. Slower to start and ~20 MiB more resident than `rowcast` (bin/rowcast.mjs,
 * the built code). The script's `--conditions=rowcast-source` makes `import … from 'rowcast'` (in a custom
 * operator) resolve to the sources too.
 */
import { main } from '../daemon/cli.ts'

process.exitCode = await main(process.argv)
