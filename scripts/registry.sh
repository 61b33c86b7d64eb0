#!/usr/bin/env bash
# A Confluent-compatible Schema Registry for the local stack: Apicurio Registry 2.x (Quarkus, JVM)
# with its in-memory (H2) storage, listening on 127.0.0.1 only. Its Confluent API lives under
# /apis/ccompat/v7. No Docker: the distribution is the `-all.tar.gz` that Apicurio publishes to
# Maven Central, fetched once with Maven and cached.
#
#   bash scripts/registry.sh up      # fetch (first time), start, wait, add SCHEMA_REGISTRY_URL to .stack/env
#   bash scripts/registry.sh down    # stop the process started by `up` (PID file), drop the env line
#   bash scripts/registry.sh status
#
# When the stack's TLS material exists (.stack/tls/server.pem, made by scripts/stack.sh), the same process also
# serves HTTPS on REGISTRY_TLS_PORT, and SCHEMA_REGISTRY_HTTPS_URL / SCHEMA_REGISTRY_CA_FILE go to .stack/env.
#
# Knobs (env): REGISTRY_PORT (18081), REGISTRY_TLS_PORT (18444), REGISTRY_HEAP (256m), REGISTRY_START_TIMEOUT_S (120),
#              STACK_DIR (<repo>/.stack), ROWCAST_CACHE (~/.cache/rowcast).
# Measured on the 2-core dev machine: ready ~7 s after start, ~200 MB RSS idle.
# The registry keeps everything in memory: `down` + `up` starts empty.
set -euo pipefail

APICURIO_VERSION=2.6.13.Final
APICURIO_ARTIFACT="io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${STACK_DIR:-$ROOT/.stack}"
CACHE_DIR="${ROWCAST_CACHE:-$HOME/.cache/rowcast}/apicurio-registry-${APICURIO_VERSION}"
PORT="${REGISTRY_PORT:-18081}"
TLS_PORT="${REGISTRY_TLS_PORT:-18444}"
TLS_DIR="$STACK_DIR/tls"
HEAP="${REGISTRY_HEAP:-256m}"
START_TIMEOUT_S="${REGISTRY_START_TIMEOUT_S:-120}"
PID_FILE="$STACK_DIR/registry.pid"
LOG_FILE="$STACK_DIR/registry.log"
ENV_FILE="$STACK_DIR/env"
BASE_URL="http://127.0.0.1:${PORT}/apis/ccompat/v7"
HTTPS_URL="https://localhost:${TLS_PORT}/apis/ccompat/v7"

log() { echo "[registry] $*" >&2; }

runner_jar() { echo "$CACHE_DIR/apicurio-registry-app-${APICURIO_VERSION}-runner.jar"; }

fetch() {
  [[ -f "$(runner_jar)" ]] && return 0
  command -v java >/dev/null || { log "java not found (the machine image provides OpenJDK 17)"; exit 1; }
  command -v mvn >/dev/null || { log "mvn not found (the machine image provides Maven)"; exit 1; }
  log "fetching ${APICURIO_ARTIFACT} from Maven Central (~140 MB, once)"
  local tmp
  mkdir -p "$(dirname "$CACHE_DIR")"
  tmp="$(mktemp -d "${CACHE_DIR}.XXXX")"
  mvn -q -B dependency:copy -Dartifact="$APICURIO_ARTIFACT" -DoutputDirectory="$tmp/dl" >&2
  mkdir -p "$tmp/dist"
  tar -xzf "$tmp/dl/"*.tar.gz -C "$tmp/dist"
  rm -rf "$CACHE_DIR"
  mv "$tmp/dist" "$CACHE_DIR"
  rm -rf "$tmp"
  [[ -f "$(runner_jar)" ]] || { log "no runner jar in the distribution"; exit 1; }
}

# True when the PID file names a live Apicurio process (guards against a recycled PID).
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'apicurio-registry-app' || return 1
  echo "$pid"
}

answers() { curl -fsS -m 2 -o /dev/null "$BASE_URL/subjects" 2>/dev/null; }

tls_enabled() { [[ -f "$TLS_DIR/server.pem" && -f "$TLS_DIR/server-key.pem" && -f "$TLS_DIR/ca.pem" ]]; }

# Replaces our lines in .stack/env (written by scripts/stack.sh) with the current ones; none when $1 is "clear".
set_env_lines() {
  mkdir -p "$STACK_DIR"
  touch "$ENV_FILE"
  local tmp="$ENV_FILE.registry.$$"
  grep -v '^SCHEMA_REGISTRY_' "$ENV_FILE" >"$tmp" || true
  if [[ "${1:-}" != clear ]]; then
    echo "SCHEMA_REGISTRY_URL=$BASE_URL" >>"$tmp"
    if tls_enabled && [[ -f "$STACK_DIR/registry.tls" ]]; then
      echo "SCHEMA_REGISTRY_HTTPS_URL=$HTTPS_URL" >>"$tmp"
      echo "SCHEMA_REGISTRY_CA_FILE=$TLS_DIR/ca.pem" >>"$tmp"
    fi
  fi
  mv "$tmp" "$ENV_FILE"
}

up() {
  mkdir -p "$STACK_DIR"
  if pid="$(running_pid)" && answers; then
    log "already running (pid $pid) at $BASE_URL"
    set_env_lines
    return 0
  fi
  if answers && [[ ${CI:-} == true || ${STACK_TAKEOVER:-} == 1 ]]; then
    # A registry left running by another checkout on this machine: stop it, as stack.sh does for its servers.
    local foreign
    foreign=$(ss -ltnpH "sport = :$PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
    if [[ -n $foreign ]] && tr '\0' ' ' <"/proc/$foreign/cmdline" 2>/dev/null | grep -q apicurio; then
      log "port $PORT is held by another checkout's registry (pid $foreign); stopping it (CI=true / STACK_TAKEOVER=1)"
      kill "$foreign" 2>/dev/null || true
      for _ in $(seq 1 50); do answers || break; sleep 0.2; done
    fi
  fi
  if answers; then
    log "port $PORT already answers, but not from a registry this script started; set REGISTRY_PORT (or STACK_TAKEOVER=1 to stop another checkout's registry)"; exit 1
  fi
  fetch
  local started=$SECONDS
  local tls_env=()
  rm -f "$STACK_DIR/registry.tls"
  if tls_enabled; then
    tls_env=(QUARKUS_HTTP_SSL_PORT="$TLS_PORT" QUARKUS_HTTP_SSL_CERTIFICATE_FILES="$TLS_DIR/server.pem"
      QUARKUS_HTTP_SSL_CERTIFICATE_KEY_FILES="$TLS_DIR/server-key.pem" QUARKUS_HTTP_INSECURE_REQUESTS=enabled)
    touch "$STACK_DIR/registry.tls"
  fi
  # prod profile = in-memory H2 storage. Quarkus reads QUARKUS_* env; the app maps HTTP_PORT itself.
  env HTTP_PORT="$PORT" QUARKUS_HTTP_HOST=127.0.0.1 QUARKUS_HTTP_PORT="$PORT" "${tls_env[@]}" \
    QUARKUS_LOG_CONSOLE_COLOR=false \
    nohup setsid java -Xms64m -Xmx"$HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
      -jar "$(runner_jar)" >"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local pid
  pid="$(cat "$PID_FILE")"
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "registry exited during start-up; last log lines:"; tail -n 30 "$LOG_FILE" >&2
      rm -f "$PID_FILE"; exit 1
    fi
    if (( SECONDS - started > START_TIMEOUT_S )); then
      log "not answering after ${START_TIMEOUT_S}s; see $LOG_FILE"; down; exit 1
    fi
    sleep 0.3
  done
  set_env_lines
  log "up in $((SECONDS - started))s (pid $pid): SCHEMA_REGISTRY_URL=$BASE_URL"
}

down() {
  local pid
  if pid="$(running_pid)"; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "stopped (pid $pid)"
  else
    log "not running"
  fi
  rm -f "$PID_FILE" "$STACK_DIR/registry.tls"
  [[ -f "$ENV_FILE" ]] && set_env_lines clear
  return 0
}

status() {
  if pid="$(running_pid)" && answers; then
    echo "running (pid $pid) at $BASE_URL, rss $(($(awk '/VmRSS/{print $2}' "/proc/$pid/status") / 1024)) MB"
  else
    echo "not running"; return 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  fetch) fetch ;;
  *) echo "usage: $0 up|down|status|fetch" >&2; exit 2 ;;
esac
