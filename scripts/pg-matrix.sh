#!/usr/bin/env bash
# The PostgreSQL version matrix: runs the suites that depend most on the server (end-to-end, sync
# semantics, slot identity, PostgreSQL faults, failover and standby decoding) against other majors.
#
#   bash scripts/pg-matrix.sh 18          one major (what `npm test` runs by default)
#   bash scripts/pg-matrix.sh all         16, 17 and 18      (`npm run test:pg-matrix`)
#   bash scripts/pg-matrix.sh "16 17"     a list
#
# Each major gets its own cluster in .stack/pg (stack.sh makes it anew when the major changes);
# Kafka and the Schema Registry stay up. Afterwards PostgreSQL is back on PG_VERSION's default (15), unless
# PG_MATRIX_RESTORE=0 (npm test, which stops the stack right after).
# PG_MATRIX_FILES overrides the list of test files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

majors=${1:-18}
[[ $majors == all ]] && majors="16 17 18"
# test/pg-matrix/*.pgNN.test.ts need PostgreSQL NN or later (failover slots: 17, decoding on a standby: 16).
read -r -a files <<<"${PG_MATRIX_FILES:-test/integration/end-to-end.test.ts test/integration/sync-model.test.ts test/integration/slot-identity.test.ts test/integration/slot-invalidated.test.ts $(ls test/pg-matrix/*.test.ts 2>/dev/null | tr '\n' ' ')}"

failed=()
for major in $majors; do
  existing=()
  for f in "${files[@]}"; do
    if [[ $f =~ \.pg([0-9]+)\.test\.ts$ ]] && ((major < BASH_REMATCH[1])); then continue; fi
    [[ -f $f ]] && existing+=("$f")
  done
  echo "=== pg-matrix: PostgreSQL $major: ${existing[*]}"
  if PG_VERSION=$major bash scripts/stack.sh up &&
    PG_VERSION=$major node --conditions=rowcast-source --import tsx --test --test-concurrency=1 --test-timeout="${TEST_TIMEOUT_MS:-600000}" --test-reporter=spec "${existing[@]}"; then
    echo "=== pg-matrix: PostgreSQL $major: ok"
  else
    echo "=== pg-matrix: PostgreSQL $major: FAILED"
    failed+=("$major")
  fi
done
bash scripts/stack.sh standby-down >/dev/null 2>&1 || true
# Back on the default major (a new cluster: ~10 s), unless the caller stops the stack next anyway (`npm test`
# without STACK_KEEP=1: PG_MATRIX_RESTORE=0); the next `stack.sh up` makes the default major's cluster then.
if [[ ${PG_MATRIX_RESTORE:-1} != 0 ]]; then PG_VERSION=15 bash scripts/stack.sh up >/dev/null; fi

if ((${#failed[@]})); then echo "pg-matrix: FAILED on PostgreSQL ${failed[*]}" >&2; exit 1; fi
echo "pg-matrix: passed on PostgreSQL $majors"
