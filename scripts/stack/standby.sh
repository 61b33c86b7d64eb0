# A physical standby of the stack's PostgreSQL (sourced by scripts/stack.sh), started on demand by tests:
# streaming replication on 127.0.0.1:55433 from the primary on 55432, through the physical slot
# rowcast_standby, data in .stack/pg-standby. On 17+ the standby syncs failover slots
# (sync_replication_slots, hot_standby_feedback) and the primary waits for it before logical walsenders
# send a change (synchronized_standby_slots), so no logical client gets ahead of the standby.
#
# The base backup is taken with pg_backup_start/pg_backup_stop and a file copy: the npm registry
# binaries of 16-18 carry no pg_basebackup, and Debian's 15 one refuses newer servers.
#
#   standby-up        make the standby (a fresh base backup each time) and wait until it streams
#   standby-promote   promote it: it becomes a primary on a new timeline
#   standby-down      stop it, remove it, and (on 17+) stop the primary waiting for it

PG_STANDBY_PORT=55433
PG_STANDBY_SLOT=rowcast_standby

primary_sql() { PGPASSWORD=$PG_PASSWORD "$PG_CLIENT_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" "$@"; }
standby_sql() { PGPASSWORD=$PG_PASSWORD "$PG_CLIENT_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_STANDBY_PORT" -U "$PG_USER" -d "$PG_DB" "$@"; }

standby_pid() {
  local pid
  pid=$(head -n1 "$STACK/pg-standby/postmaster.pid" 2>/dev/null) || return 1
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q postgres || return 1
  echo "$pid"
}

standby_up() {
  pg_pid >/dev/null || die "the stack's PostgreSQL is not running" "bash scripts/stack.sh up"
  standby_down
  require_free_port "$PG_STANDBY_PORT" "PostgreSQL standby of the stack"
  local dir label
  dir=$(dirname "$(pg_data_real)")/pg-standby
  [[ $dir == "$STACK/pg-standby" ]] || ln -sfn "$dir" "$STACK/pg-standby"
  say "making a standby of PostgreSQL $PG_MAJOR on 127.0.0.1:$PG_STANDBY_PORT (base backup into $dir)"
  primary_sql -c "SELECT pg_create_physical_replication_slot('$PG_STANDBY_SLOT', true) WHERE NOT EXISTS (SELECT FROM pg_replication_slots WHERE slot_name = '$PG_STANDBY_SLOT')" >/dev/null
  label=$STACK/standby-backup_label
  # One session holds the backup open while the files are copied (non-exclusive backup).
  primary_sql >"$STACK/standby-backup.log" 2>&1 <<SQL || { tail_log "$STACK/standby-backup.log" >&2; die "base backup for the standby failed"; }
SELECT pg_backup_start('rowcast-standby', true);
\! rsync -a --exclude=postmaster.pid --exclude=postmaster.opts --exclude='pg_wal/*' --exclude='pg_replslot/*' --exclude=rowcast-setup.done "$(pg_data_real)/" "$dir/"
\o $label
SELECT labelfile FROM pg_backup_stop(false);
\o
SQL
  mkdir -p "$dir/pg_wal/archive_status"
  cp "$label" "$dir/backup_label"
  touch "$dir/standby.signal"
  {
    echo "# written by scripts/stack.sh standby-up; do not edit"
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $PG_STANDBY_PORT"
    echo "unix_socket_directories = ''"
    echo "wal_level = logical"
    echo "max_replication_slots = 200"
    echo "max_wal_senders = 100"
    echo "max_connections = 200"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    echo "primary_conninfo = 'host=127.0.0.1 port=$PG_PORT user=$PG_USER password=$PG_PASSWORD dbname=$PG_DB application_name=rowcast_standby'"
    echo "primary_slot_name = '$PG_STANDBY_SLOT'"
    echo "hot_standby = on"
    echo "hot_standby_feedback = on"
    if ((PG_MAJOR >= 17)); then echo "sync_replication_slots = on"; fi
  } >"$dir/rowcast.conf"
  if [[ $(id -u) == 0 ]]; then chown -R postgres: "$dir"; fi
  chmod 700 "$dir"
  local bin
  bin=$(cat "$STACK/pg.bin")
  : >"$STACK/pg-standby.log"
  if [[ $(id -u) == 0 ]]; then chown postgres: "$STACK/pg-standby.log"; fi
  if ! as_pg "$bin/pg_ctl" -D "$dir" -l "$(readlink -f "$STACK/pg-standby.log")" -w -t "$PG_START_TIMEOUT" start >"$STACK/pg_ctl-standby.out" 2>&1 9>&-; then
    { cat "$STACK/pg_ctl-standby.out"; tail_log "$STACK/pg-standby.log"; } >&2
    die "the standby failed to start (log: $STACK/pg-standby.log)"
  fi
  local i
  for ((i = 0; i < 120; i++)); do
    [[ $(primary_sql -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'rowcast_standby' AND state = 'streaming'") == 1 ]] && break
    sleep 0.5
  done
  ((i < 120)) || { tail_log "$STACK/pg-standby.log" >&2; die "the standby did not start streaming within 60s"; }
  if ((PG_MAJOR >= 17)); then
    primary_sql -c "ALTER SYSTEM SET synchronized_standby_slots = '$PG_STANDBY_SLOT'" -c "SELECT pg_reload_conf()" >/dev/null
  fi
  standby_env
  say "standby streaming on 127.0.0.1:$PG_STANDBY_PORT"
}

standby_env() {
  grep -v '^PG_STANDBY_' "$STACK/env" >"$STACK/env.tmp" || true
  env_line PG_STANDBY_URL "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_STANDBY_PORT/$PG_DB" >>"$STACK/env.tmp"
  env_line PG_STANDBY_PORT "$PG_STANDBY_PORT" >>"$STACK/env.tmp"
  mv "$STACK/env.tmp" "$STACK/env"
}

standby_promote() {
  standby_pid >/dev/null || die "no standby runs" "bash scripts/stack.sh standby-up"
  as_pg "$(cat "$STACK/pg.bin")/pg_ctl" -D "$(readlink -f "$STACK/pg-standby")" -w -t 60 promote >/dev/null ||
    die "promoting the standby failed (log: $STACK/pg-standby.log)"
  say "standby on 127.0.0.1:$PG_STANDBY_PORT promoted"
}

standby_down() {
  local pid dir
  if pid=$(standby_pid); then
    say "stopping the standby (pid $pid)"
    as_pg "$(cat "$STACK/pg.bin")/pg_ctl" -D "$(readlink -f "$STACK/pg-standby")" -m immediate -w -t 60 stop >/dev/null || true
  fi
  dir=$(readlink -f "$STACK/pg-standby" 2>/dev/null || true)
  [[ -n $dir ]] && rm -rf "$dir"
  rm -rf "$STACK/pg-standby"
  if pg_pid >/dev/null && port_open "$PG_PORT"; then
    primary_sql -c "ALTER SYSTEM RESET synchronized_standby_slots" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
    primary_sql -c "SELECT pg_drop_replication_slot('$PG_STANDBY_SLOT') FROM pg_replication_slots WHERE slot_name = '$PG_STANDBY_SLOT' AND NOT active" >/dev/null 2>&1 || true
  fi
  if [[ -f $STACK/env ]] && grep -q '^PG_STANDBY_' "$STACK/env"; then grep -v '^PG_STANDBY_' "$STACK/env" >"$STACK/env.tmp" || true; mv "$STACK/env.tmp" "$STACK/env"; fi
}
