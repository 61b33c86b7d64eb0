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
# test/pg-matrix/ holds tests that need PostgreSQL 16+ (failover slots, standby decoding): the pg-matrix step runs them.
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/node_modules/*' -not -path 'test/pg-matrix/*' | sort)
if ((${#files[@]} == 0)); then echo "no test files under test/" >&2; exit 1; fi

# The build comes first: the CLI tests run bin/rowcast.mjs, which runs dist/. In-process tests run the sources,
# and --conditions=rowcast-source makes their `import … from 'rowcast'` resolve to the sources too (package.json).
step build npm run --silent build
# Lint and typecheck read the sources only, and take ~35 s of CPU: they run in the background during the first
# test phase (nothing there waits for them), and their output and verdicts are shown once it ends.
bg=$(mktemp -d)
background() {
  local name=$1
  shift
  { if "$@" >"$bg/$name.log" 2>&1; then echo 0; else echo $?; fi >"$bg/$name.rc"; } &
}
background_result() {
  wait
  cat "$bg/$1.log"
  return "$(cat "$bg/$1.rc" 2>/dev/null || echo 1)"
}
background lint npx eslint .
background typecheck npx tsc --noEmit -p .
# Two phases, to keep CI within its budget on two cores: most files run two at a time (each uses its own tables,
# topics and slots); the files that stop, kill or freeze Kafka or PostgreSQL, change server-wide settings,
# measure memory and timeouts, or rebuild dist/ (which other tests' CLI runs read) run afterwards, one at a
# time, with nothing beside them. Only those: a file here holds only tests that need it (the others of a topic
# are in a file of their own beside it, e.g. faults-local, alerts-sync-errors, kafka-size), since every second
# here is a second of CI. Tests that need a build call ensureBuilt() (test/support/build.ts): after the build
# step it finds dist/ up to date and leaves it alone, so they run in the shared phase. chunked-snapshot disturbs
# nothing, but its bound on rows re-sent after a SIGKILL (two chunks for two kills) holds only with nothing
# beside it: run beside another file it re-sent 4,500 rows (2026-12-02), so it stays here.
alone='^test/integration/(alerts-stuck-sync|bounded-memory|chunked-snapshot|exactly-once|faults|kafka-restart-eos|kafka-retries|registry-pause|slot-invalidated|stop-during-startup|stream-group|takeover-frozen)\.test\.ts$'
alone+='|^test/package/tarball\.test\.ts$'
mapfile -t shared_files < <(printf '%s\n' "${files[@]}" | grep -vE "$alone")
mapfile -t alone_files < <(printf '%s\n' "${files[@]}" | grep -E "$alone")
# A file that hangs fails after 10 min (the longest takes ~2), naming itself, instead of holding CI to its budget;
# test/support/watchdog.ts fails the files on the stack sooner, saying what they wait on.
export TEST_TIMEOUT_MS=600000
run_tests() {
  local concurrency=$1
  shift
  node --conditions=rowcast-source --import tsx --test --test-concurrency="$concurrency" --test-timeout="$TEST_TIMEOUT_MS" --test-reporter=spec "$@"
}
step tests run_tests 2 "${shared_files[@]}"
step lint background_result lint
step typecheck background_result typecheck
rm -rf "$bg"
step tests-alone run_tests 1 "${alone_files[@]}"

# Node 22 and 24 besides the machine's 20 (binaries from scripts/node-versions.sh, fetched once per machine by
# .ci/run): the unit tests and the end-to-end suite again, against the same stack. In: the unit tests (the
# decoder against real PostgreSQL and the sink against real Kafka among them), the end-to-end test, the shipped
# CLI and the kafkajs fast paths. Left out, to keep the two steps to a few minutes: the integration suites that
# test one feature each in depth, and tests of files that do not run in rowcast's process (the stack, deploy/,
# the README's configs, the benchmark, the JSON Schema build, node-versions.sh, the Java partitioner comparison).
# A missing binary fails the step, saying how to fetch it.
mapfile -t other_node_files < <(printf '%s\n' "${files[@]}" |
  grep -vE '^test/(integration|package|stack|deploy|docs|bench)/|^test/scripts/(json-schema|node-versions)\.|^test/connectors/kafka/partitioner\.'
  printf '%s\n' test/integration/{end-to-end,cli,kafkajs-fast-paths}.test.ts)
on_node() {
  local dir
  dir=$(bash scripts/node-versions.sh bin "$1") || return 1
  shift
  PATH="$dir:$PATH" "$@"
}
for major in $(bash scripts/node-versions.sh majors); do
  step "node$major" on_node "$major" run_tests 2 "${other_node_files[@]}"
done

# --- PostgreSQL version matrix (scripts/pg-matrix.sh; README "PostgreSQL in production") ---
# By default a representative subset against one other major (PG_MATRIX=18); PG_MATRIX=all runs it
# on 16, 17 and 18, PG_MATRIX=none skips it. The stack is back on the default major afterwards.
# It is the last step: unless the stack stays up (STACK_KEEP=1), PostgreSQL is not put back on 15 for nothing.
restore=0
[[ ${STACK_KEEP:-} == 1 ]] && restore=1
if [[ ${PG_MATRIX:-18} != none ]]; then step pg-matrix env PG_MATRIX_RESTORE=$restore bash scripts/pg-matrix.sh "${PG_MATRIX:-18}"; fi

if ((${#failed[@]})); then echo "npm test: FAILED: ${failed[*]}" >&2; exit 1; fi
echo "npm test: lint, typecheck and ${#files[@]} test files passed on $(node --version), ${#other_node_files[@]} of them also on Node $(bash scripts/node-versions.sh majors | sed 's/ / and /')"
