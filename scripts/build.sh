#!/usr/bin/env bash
# `npm run build` (also `npm install`, `npm test`, `npm run bench`): what the package runs and ships.
# - dist/index.js (the library, `import … from 'rowcast'`) and dist/cli.js (the CLI, started by bin/rowcast.mjs):
#   esbuild bundles of the sources, dependencies left to node_modules. One build with both entry points, so
#   they share their modules (chunks/): a custom operator importing 'rowcast' in the CLI's process gets the
#   CLI's own classes, not copies.
# - dist/**/*.d.ts: the library's type declarations (tsconfig.build.json).
# - dist/rowcast.schema.json: the JSON Schema of rowcast.yaml, for editors (scripts/json-schema.ts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PATH="$PWD/node_modules/.bin:$PATH"

rm -rf dist
esbuild index=index.ts cli=daemon/cli.ts --bundle --splitting --format=esm --platform=node --target=node20 \
  --packages=external --sourcemap --log-level=warning --outdir=dist '--chunk-names=chunks/[name]-[hash]'
tsc -p tsconfig.build.json
# dist/rowcast.schema.json: the config's JSON Schema for editors (`# yaml-language-server: $schema=…`), from the zod schema.
node --import tsx scripts/json-schema.ts dist/rowcast.schema.json
