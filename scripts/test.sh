#!/usr/bin/env bash
# `npm test`: starts the local stack, lints, type-checks and runs every test file against it.
# Runs all three steps even when one fails (so one report shows everything); exits non-zero
# if any failed. The stack is stopped on exit (STACK_KEEP=1 leaves it running).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# The stack includes the Schema Registry (scripts/registry.sh, ~5 s, ~150 MB) unless STACK_REGISTRY=0;
# exported, so the tests' own `stack.sh up` (test/support/harness.ts) keeps it up too.
export STACK_REGISTRY=${STACK_REGISTRY:-1}

if [[ ${STACK_KEEP:-} != 1 ]]; then trap 'bash scripts/stack.sh down || true' EXIT; fi
bash scripts/stack.sh up

failed=()
step() {
  local name=$1
  shift
  echo "=== $name: $*"
  if "$@"; then echo "=== $name: ok"; else echo "=== $name: FAILED (exit $?)"; failed+=("$name"); fi
}

# Node 20's --test does not expand globs itself: list the files here.
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
if ((${#files[@]} == 0)); then echo "no test files under test/" >&2; exit 1; fi

# The build comes first: the CLI tests run bin/rowcast.mjs, which runs dist/. In-process tests run the sources,
# and --conditions=rowcast-source makes their `import … from 'rowcast'` resolve to the sources too (package.json).
step build npm run --silent build
step lint npx eslint .
step typecheck npx tsc --noEmit -p .
step tests node --conditions=rowcast-source --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"

if ((${#failed[@]})); then echo "npm test: FAILED: ${failed[*]}" >&2; exit 1; fi
echo "npm test: lint, typecheck and ${#files[@]} test files passed"
