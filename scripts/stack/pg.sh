# PostgreSQL of the stack (sourced by scripts/stack.sh): Debian's 15, or PG_VERSION=16|17|18
# (scripts/stack/pg-versions.sh).
# Its own cluster in .stack/pg on 127.0.0.1:55432, TCP only (no Unix socket, so it never
# meets a system PostgreSQL), run as the `postgres` system user when we are root.

# Where the data folder and log really live: .stack itself, unless the postgres user cannot
# reach it (a checkout under a private home), then a folder in /var/tmp linked from .stack.
pg_home() {
  if [[ $(id -u) != 0 ]] || runuser -u postgres -- test -x "$STACK" 2>/dev/null; then
    echo "$STACK"
  else
    echo "/var/tmp/rowcast-stack-$(echo "$ROOT" | cksum | cut -d' ' -f1)"
  fi
}

pg_log_file() { echo "$STACK/pg.log"; }
# Real paths: .stack/pg may be a link the postgres user cannot follow.
pg_data_real() { readlink -f "$STACK/pg"; }
pg_log_real() { readlink -f "$STACK/pg.log"; }

# Runs a command as the user PostgreSQL runs as (it refuses root).
as_pg() {
  if [[ $(id -u) == 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Prints the postmaster's PID when our cluster runs.
pg_pid() {
  local pid
  [[ -f $STACK/pg/postmaster.pid ]] || return 1
  pid=$(head -n1 "$STACK/pg/postmaster.pid" 2>/dev/null) || return 1
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "postgres" || return 1
  echo "$pid"
}

pg_up() {
  if pg_pid >/dev/null; then
    local running
    running=$(cat "$STACK/pg.major" 2>/dev/null || echo "$PG_DEFAULT_MAJOR")
    if [[ $running == "$PG_MAJOR" ]] && port_open "$PG_PORT"; then return 0; fi
    if [[ $running != "$PG_MAJOR" ]]; then say "PostgreSQL $running runs; switching to $PG_MAJOR"; fi
    pg_stop
  fi
  [[ $PG_MAJOR == "$PG_DEFAULT_MAJOR" ]] || fetch_pg "$PG_MAJOR"
  require_free_port "$PG_PORT" "PostgreSQL of the stack"
  # One cluster folder for whichever major runs: another major's cluster is test data, made anew.
  if [[ -f $STACK/pg/PG_VERSION && $(cat "$STACK/pg/PG_VERSION") != "$PG_MAJOR" ]]; then
    say "the cluster in $STACK/pg is PostgreSQL $(cat "$STACK/pg/PG_VERSION"); initialising a PostgreSQL $PG_MAJOR one"
    pg_remove
  fi
  [[ -f $STACK/pg/PG_VERSION ]] || pg_init
  pg_write_conf
  say "starting PostgreSQL $PG_MAJOR on 127.0.0.1:$PG_PORT"
  local log
  log=$(pg_log_real)
  if ! as_pg "$PG_BIN/pg_ctl" -D "$(pg_data_real)" -l "$log" -w -t "$PG_START_TIMEOUT" start >"$STACK/pg_ctl.out" 2>&1 9>&-; then
    { cat "$STACK/pg_ctl.out"; tail_log "$log"; } >&2
    die "PostgreSQL failed to start, or was not ready within ${PG_START_TIMEOUT}s (log: $log)" "read the log above; to start from scratch: bash scripts/stack.sh reset && bash scripts/stack.sh up"
  fi
  pg_pid >"$STACK/pg.pid"
  echo "$PG_MAJOR" >"$STACK/pg.major"
  echo "$PG_BIN" >"$STACK/pg.bin"
  [[ -f $STACK/pg/rowcast-setup.done ]] || pg_setup
}

pg_init() {
  local home
  say "initialising PostgreSQL $PG_MAJOR cluster in $STACK/pg"
  ensure_pg_user
  home=$(pg_home)
  if [[ $home != "$STACK" ]]; then mkdir -p "$home" && chmod 755 "$home"; fi
  rm -rf "$STACK/pg" "$home/pg"
  mkdir -p "$home/pg"
  : >"$home/pg.log"
  if [[ $home != "$STACK" ]]; then ln -sfn "$home/pg" "$STACK/pg" && ln -sfn "$home/pg.log" "$STACK/pg.log"; fi
  printf '%s\n' "$PG_PASSWORD" >"$home/pwfile"
  chmod 700 "$home/pg"
  if [[ $(id -u) == 0 ]]; then chown postgres: "$home/pg" "$home/pg.log" "$home/pwfile"; fi
  if ! as_pg "$PG_BIN/initdb" -D "$home/pg" -U "$PG_USER" --pwfile="$home/pwfile" -E UTF8 --locale=C \
    --auth-local=reject --auth-host=md5 >"$STACK/initdb.log" 2>&1; then
    tail_log "$STACK/initdb.log" >&2
    rm -f "$home/pwfile"
    die "initdb failed (log: $STACK/initdb.log)"
  fi
  rm -f "$home/pwfile"
  echo "include = 'rowcast.conf'" >>"$home/pg/postgresql.conf"
  # md5 accepts SCRAM-stored passwords too (SCRAM is then used); replication from 127.0.0.1.
  cat >"$home/pg/pg_hba.conf" <<'EOF'
# written by scripts/stack.sh
host    all             all             127.0.0.1/32            md5
host    replication     all             127.0.0.1/32            md5
EOF
}

# Rewritten at every start, so changes here apply to an existing cluster.
pg_write_conf() {
  local f=$STACK/pg/rowcast.conf
  cat >"$f" <<EOF
# written by scripts/stack.sh at each start; do not edit
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
wal_level = logical
max_replication_slots = 200
max_wal_senders = 100
max_connections = 200
fsync = on
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  if [[ $(id -u) == 0 ]]; then chown postgres: "$f"; fi
}

# Database rowcast, and a role that may log in but not replicate (for diagnosis tests).
pg_setup() {
  PGPASSWORD=$PG_PASSWORD "$PG_CLIENT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres >"$STACK/pg-setup.log" 2>&1 <<EOF || { tail_log "$STACK/pg-setup.log" >&2; die "creating database/roles failed"; }
SELECT 'CREATE DATABASE $PG_DB' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \gexec
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_NOREPL_USER') THEN
    CREATE ROLE $PG_NOREPL_USER LOGIN NOSUPERUSER NOREPLICATION PASSWORD '$PG_NOREPL_PASSWORD';
  END IF;
END \$\$;
GRANT CONNECT, CREATE, TEMPORARY ON DATABASE $PG_DB TO $PG_NOREPL_USER;
\c $PG_DB
GRANT USAGE, CREATE ON SCHEMA public TO $PG_NOREPL_USER;
EOF
  touch "$STACK/pg/rowcast-setup.done"
}

# Stops the cluster with the binaries that started it (whatever PG_VERSION says now).
pg_stop() {
  local pid bin
  if ! pid=$(pg_pid); then rm -f "$STACK/pg.pid"; return 0; fi
  bin=$(cat "$STACK/pg.bin" 2>/dev/null || echo "$PG_CLIENT_BIN")
  say "stopping PostgreSQL (pid $pid, fast shutdown)"
  as_pg "$bin/pg_ctl" -D "$(pg_data_real)" -m fast -w -t 60 stop >/dev/null ||
    die "PostgreSQL (pid $pid) did not stop within 60s" "kill -9 $pid"
  rm -f "$STACK/pg.pid"
}

# A crash: the postmaster SIGKILLed (a failover test's dead primary). pg-start recovers it.
pg_kill() {
  local pid
  if ! pid=$(pg_pid); then return 0; fi
  say "killing PostgreSQL (pid $pid, SIGKILL)"
  kill -KILL "$pid"
  local i
  for ((i = 0; i < 100; i++)); do port_open "$PG_PORT" || break; sleep 0.1; done
  rm -f "$STACK/pg.pid"
}

# For `reset`: removes the cluster, including a data folder kept outside .stack.
pg_remove() {
  local home
  if [[ -L $STACK/pg ]]; then
    home=$(dirname "$(pg_data_real)")
    [[ $home == /var/tmp/rowcast-stack-* ]] && rm -rf "$home"
  fi
  rm -rf "$STACK/pg" "$STACK/pg.log"
}
