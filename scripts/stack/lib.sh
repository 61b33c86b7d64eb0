# Helpers shared by scripts/stack.sh (sourced, not run).

say() { echo "stack: $*" >&2; }

# die MESSAGE [FIX_COMMAND]: explain why, and how to fix it, then fail.
die() {
  echo "stack: ERROR: $1" >&2
  if [[ -n ${2:-} ]]; then echo "stack: fix: $2" >&2; fi
  exit 1
}

# Runs a command under an exclusive lock, so concurrent `up`s (parallel test files) wait.
with_lock() {
  exec 9>"$STACK/stack.lock"
  flock -w 600 9 || die "another stack.sh has held $STACK/stack.lock for 10 minutes"
  "$@"
}

# alive PID: the process exists and is not a zombie.
alive() { [[ -r /proc/$1/stat ]] && ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$1/stat" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Names whoever listens on a port, if ss can tell.
port_owner() {
  local line
  line=$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n1 || true)
  if [[ $line =~ users:\(\((.*)\)\) ]]; then echo "${BASH_REMATCH[1]}"; else echo "an unknown process"; fi
}

# The checkout whose stack listens on a port, when it is a rowcast stack of another checkout
# (recognised by its command line: kafka.Kafka <root>/.stack/... or postgres -D <root>/.stack/pg).
foreign_stack_root() {
  local line pid cmd other=
  line=$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n1 || true)
  [[ $line =~ pid=([0-9]+) ]] || return 1
  pid=${BASH_REMATCH[1]}
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  if [[ $cmd =~ kafka\.Kafka\ (/.*)/\.stack/kafka-[^/]+/server\.properties ]]; then other=${BASH_REMATCH[1]}
  elif [[ $cmd =~ postgres\ -D\ (/.*)/\.stack/pg ]]; then other=${BASH_REMATCH[1]}
  fi
  [[ -n $other && $other != "$ROOT" && -f $other/scripts/stack.sh ]] || return 1
  echo "$other"
}

# Fails when a port we are about to bind is already taken by someone else. A stack left
# running by another checkout on this machine is stopped through its own script under CI
# (CI=true) or STACK_TAKEOVER=1; otherwise the message says how.
require_free_port() {
  local port=$1 what=$2 other
  port_open "$port" || return 0
  if other=$(foreign_stack_root "$port"); then
    if [[ ${CI:-} == true || ${STACK_TAKEOVER:-} == 1 ]]; then
      say "port $port is held by the stack of $other; stopping it (CI=true / STACK_TAKEOVER=1)"
      STACK_REGISTRY=1 bash "$other/scripts/stack.sh" down 9>&- || true
      local i
      for ((i = 0; i < 40; i++)); do port_open "$port" || return 0; sleep 0.25; done
    fi
    die "port $port ($what) is held by the stack of another checkout, $other" \
      "bash $other/scripts/stack.sh down   (or run with STACK_TAKEOVER=1)"
  fi
  die "port $port ($what) is already in use by $(port_owner "$port")" \
    "stop that process (ss -ltnp 'sport = :$port' shows it), or if it is an old stack of this checkout: bash scripts/stack.sh down"
}

# tail_log FILE: the last lines of a server log, indented, for error messages.
tail_log() { if [[ -f $1 ]]; then echo "--- last lines of $1:"; tail -n 30 "$1" | sed 's/^/    /'; fi; }

check_tools() {
  check_pg_tools
  check_java
  command -v openssl >/dev/null || die "openssl not found" "apt-get install -y openssl"
  command -v ss >/dev/null || die "ss not found" "apt-get install -y iproute2"
}

# Debian's 15 is always needed: its psql is the client for every major. Other majors' servers are
# fetched by pg_up when missing.
check_pg_tools() {
  [[ -x $PG_CLIENT_BIN/psql ]] || die "PostgreSQL 15 client tools not found in $PG_CLIENT_BIN" "apt-get install -y postgresql-15"
  [[ $PG_MAJOR != "$PG_DEFAULT_MAJOR" ]] || [[ -x $PG_BIN/postgres && -x $PG_BIN/initdb && -x $PG_BIN/pg_ctl ]] ||
    die "PostgreSQL 15 binaries not found in $PG_BIN" "apt-get install -y postgresql-15"
}

check_java() {
  command -v java >/dev/null || die "java not found (Kafka needs Java 17+)" "apt-get install -y openjdk-17-jre-headless"
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [[ ${v%%.*} -ge 17 ]] 2>/dev/null || die "java $v is too old: Kafka needs Java 17+" "apt-get install -y openjdk-17-jre-headless"
}

# Throwaway TLS material in .stack/tls: a CA, a server certificate it signs (SAN localhost,
# 127.0.0.1; PKCS#8 key), and an unrelated second CA for "wrong CA" tests. Made once.
ensure_tls() {
  local d=$STACK/tls
  [[ -f $d/.complete ]] && return 0
  rm -rf "$d" && mkdir -p "$d"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -noenc -keyout ca-key.pem -out ca.pem -days 3650 \
      -subj "/CN=rowcast stack test CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -x509 -newkey rsa:2048 -noenc -keyout other-ca-key.pem -out other-ca.pem -days 3650 \
      -subj "/CN=rowcast unrelated CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey rsa:2048 -noenc -keyout server-key.pem -out server.csr -subj "/CN=localhost"
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
      "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -set_serial "0x$(openssl rand -hex 16)" \
      -days 3650 -extfile server.ext -out server.pem
    # Kafka's PEM keystore: PKCS#8 key followed by the certificate chain.
    cat server-key.pem server.pem ca.pem >server-keystore.pem
    rm -f server.csr server.ext
  ) >"$STACK/tls.log" 2>&1 || { tail_log "$STACK/tls.log" >&2; die "generating TLS material with openssl failed"; }
  touch "$d/.complete"
}

# Writes KEY=value lines; values are single-quoted only when they need it.
env_line() {
  if [[ $2 =~ ^[A-Za-z0-9_./:@,+=%-]*$ ]]; then printf '%s=%s\n' "$1" "$2"; else printf "%s='%s'\n" "$1" "${2//\'/\'\\\'\'}"; fi
}

# .stack/env: what tests, the demo and benchmarks connect with (see scripts/stack-env.ts).
write_env() {
  local tmp=$STACK/env.tmp
  {
    echo "# written by scripts/stack.sh; do not edit"
    env_line ROWCAST_PG_URL "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
    env_line PG_NOREPL_URL "postgres://$PG_NOREPL_USER:$PG_NOREPL_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
    env_line PG_PORT "$PG_PORT"
    env_line PG_BIN "$PG_BIN"
    env_line PG_MAJOR "$PG_MAJOR"
    env_line PG_CLIENT_BIN "$PG_CLIENT_BIN"
    env_line PG_DATA "$STACK/pg"
    env_line PG_LOG "$(pg_log_file)"
    env_line KAFKA_VERSION "$KAFKA_VERSION"
    env_line KAFKA_LIB "$KAFKA_LIB"
    env_line KAFKA_LOG "$KAFKA_DIR/kafka.log"
    env_line KAFKA_BOOTSTRAP_PLAINTEXT "127.0.0.1:$PORT_PLAINTEXT"
    env_line KAFKA_BOOTSTRAP_SASL_PLAINTEXT "127.0.0.1:$PORT_SASL_PLAINTEXT"
    env_line KAFKA_BOOTSTRAP_SSL "127.0.0.1:$PORT_SSL"
    env_line KAFKA_BOOTSTRAP_SASL_SSL "127.0.0.1:$PORT_SASL_SSL"
    env_line KAFKA_CA_FILE "$STACK/tls/ca.pem"
    env_line KAFKA_OTHER_CA_FILE "$STACK/tls/other-ca.pem"
    env_line KAFKA_PLAIN_USER "$PLAIN_USER"
    env_line KAFKA_PLAIN_PASSWORD "$PLAIN_PASSWORD"
    env_line KAFKA_SCRAM256_USER "$SCRAM256_USER"
    env_line KAFKA_SCRAM256_PASSWORD "$SCRAM256_PASSWORD"
    env_line KAFKA_SCRAM512_USER "$SCRAM512_USER"
    env_line KAFKA_SCRAM512_PASSWORD "$SCRAM512_PASSWORD"
  } >"$tmp"
  # Keep what other scripts added (e.g. scripts/registry.sh: SCHEMA_REGISTRY_URL).
  if [[ -f $STACK/env ]]; then
    local mine
    mine=$(sed -n 's/^\([A-Z0-9_]*\)=.*/\1/p' "$tmp" | paste -sd'|')
    grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$STACK/env" | grep -vE "^($mine)=" >>"$tmp" || true
  fi
  mv "$tmp" "$STACK/env"
}
