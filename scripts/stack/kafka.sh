# Apache Kafka of the stack (sourced by scripts/stack.sh): one KRaft node (broker+controller,
# node.id=1) as a plain Java process, jars from Maven Central, state in .stack/kafka-<version>.

# Sets KAFKA_VERSION, KAFKA_LIB (cached jars) and KAFKA_DIR (config, data, log).
# Without KAFKA_VERSION: the running Kafka's version (or, for kafka-start, the last one used),
# else the default. KAFKA_VERSION=3.9 / 3.9.x means the newest 3.9.
resolve_kafka_version() {
  local want=${KAFKA_VERSION:-}
  if [[ -z $want && -f $STACK/kafka.version ]] && { kafka_pid >/dev/null || [[ ${1:-} == sticky ]]; }; then
    want=$(cat "$STACK/kafka.version")
  fi
  case ${want:-default} in
    default | 4 | 4.x) want=$KAFKA_DEFAULT_VERSION ;;
    3.9 | 3.9.x | 3.9.X) want=$KAFKA_39_VERSION ;;
  esac
  [[ $want =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "KAFKA_VERSION=$want is not a version (e.g. $KAFKA_DEFAULT_VERSION, 3.9)"
  KAFKA_VERSION=$want
  KAFKA_LIB=$CACHE_ROOT/kafka-$want/lib
  KAFKA_DIR=$STACK/kafka-$want
}

# Fetches the jars once per version into the cache (outside the checkout, reused by clones).
fetch_kafka() {
  local dir=$CACHE_ROOT/kafka-$KAFKA_VERSION profile=log4j2
  [[ -f $dir/.complete ]] && return 0
  command -v mvn >/dev/null || die "maven not found (needed once per Kafka version, to fetch its jars)" "apt-get install -y maven"
  check_java
  [[ ${KAFKA_VERSION%%.*} -ge 4 ]] || profile=reload4j
  say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $dir/lib (once)"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  if ! mvn -B -q -Dstyle.color=never -f "$HERE/kafka-pom.xml" -P "$profile" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir.tmp/lib" >"$dir.tmp/mvn.log" 2>&1; then
    tail_log "$dir.tmp/mvn.log" >&2
    die "could not fetch Kafka $KAFKA_VERSION from Maven Central (unreachable, or no such version; full log: $dir.tmp/mvn.log)" \
      "check that Maven Central answers: mvn -B dependency:get -Dartifact=org.apache.kafka:kafka_2.13:$KAFKA_VERSION ; then re-run"
  fi
  rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.complete"
}

# Prints the PID of the Kafka this checkout started, if it runs.
kafka_pid() {
  local pid
  pid=$(cat "$STACK/kafka.pid" 2>/dev/null) || return 1
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $STACK/" || return 1
  echo "$pid"
}

kafka_ports_open() {
  local p
  for p in "${KAFKA_PORTS[@]}"; do port_open "$p" || return 1; done
}

kafka_up() {
  if kafka_pid >/dev/null; then
    local running
    running=$(cat "$STACK/kafka.version")
    if [[ $running == "$KAFKA_VERSION" ]]; then
      kafka_ports_open || kafka_wait_ready "$(kafka_pid)"
      return 0
    fi
    say "Kafka $running runs; switching to $KAFKA_VERSION"
    kafka_stop TERM
  fi
  fetch_kafka
  local p
  for p in "${KAFKA_PORTS[@]}"; do require_free_port "$p" "Kafka of the stack"; done
  ensure_tls
  mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
  kafka_write_config
  [[ -f $KAFKA_DIR/data/meta.properties ]] || kafka_format
  say "starting Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$PORT_PLAINTEXT-$PORT_SASL_SSL"
  if [[ -f $KAFKA_DIR/kafka.log ]]; then mv "$KAFKA_DIR/kafka.log" "$KAFKA_DIR/kafka.log.1"; fi
  # setsid: a Ctrl-C in the shell that ran `up` must not reach the broker; 9>&-: nor our lock.
  setsid java "${KAFKA_JVM_OPTS[@]}" -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
    </dev/null >>"$KAFKA_DIR/kafka.log" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$STACK/kafka.pid"
  echo "$KAFKA_VERSION" >"$STACK/kafka.version"
  kafka_wait_ready "$pid"
}

# Ready = the broker logged that it started and every listener accepts connections.
kafka_wait_ready() {
  local pid=$1 log=$KAFKA_DIR/kafka.log deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while :; do
    if ! alive "$pid"; then
      tail_log "$log" >&2
      die "Kafka $KAFKA_VERSION exited during start-up (log: $log)" "read the log above; to start from scratch: bash scripts/stack.sh reset && bash scripts/stack.sh up"
    fi
    if grep -q "Kafka Server started" "$log" 2>/dev/null && kafka_ports_open; then return 0; fi
    if ((SECONDS >= deadline)); then
      tail_log "$log" >&2
      kafka_stop KILL
      die "Kafka $KAFKA_VERSION was not ready within ${KAFKA_START_TIMEOUT}s; stopped it (log: $log)" \
        "read the log above; a slow machine may need KAFKA_START_TIMEOUT=120 bash scripts/stack.sh up"
    fi
    sleep 0.25
  done
}

kafka_format() {
  local cid
  # base64url of 16 random bytes; not starting with '-', which the tool would take for an option
  cid=-
  while [[ $cid == -* ]]; do cid=$(openssl rand -base64 16 | tr '+/' '-_' | tr -d '=\n'); done
  say "formatting Kafka storage in $KAFKA_DIR/data (cluster $cid, SCRAM users $SCRAM256_USER, $SCRAM512_USER)"
  if ! java "${KAFKA_LOG_OPTS[@]}" -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
    --config "$KAFKA_DIR/server.properties" --cluster-id "$cid" \
    --add-scram "SCRAM-SHA-256=[name=$SCRAM256_USER,password=$SCRAM256_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$SCRAM512_USER,password=$SCRAM512_PASSWORD]" \
    >"$KAFKA_DIR/format.log" 2>&1; then
    tail_log "$KAFKA_DIR/format.log" >&2
    rm -rf "$KAFKA_DIR/data"
    die "formatting Kafka storage failed (log: $KAFKA_DIR/format.log)"
  fi
}

kafka_write_config() {
  local tls=$STACK/tls sasl_jaas l
  if [[ ${KAFKA_VERSION%%.*} -ge 4 ]]; then
    KAFKA_LOG_OPTS=(-Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties")
    cat >"$KAFKA_DIR/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
  else
    KAFKA_LOG_OPTS=(-Dlog4j.configuration="file:$KAFKA_DIR/log4j.properties")
    cat >"$KAFKA_DIR/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.state.change.logger=WARN
EOF
  fi
  # Modest heap, sized for a 2-core machine.
  KAFKA_JVM_OPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:ActiveProcessorCount=2
    -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    -Dkafka.logs.dir="$KAFKA_DIR/logs" "${KAFKA_LOG_OPTS[@]}")
  {
    cat <<EOF
# written by scripts/stack.sh at each start; do not edit
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$PORT_CONTROLLER
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$PORT_PLAINTEXT,SASL_PLAINTEXT://127.0.0.1:$PORT_SASL_PLAINTEXT,SSL://127.0.0.1:$PORT_SSL,SASL_SSL://127.0.0.1:$PORT_SASL_SSL,CONTROLLER://127.0.0.1:$PORT_CONTROLLER
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT_PLAINTEXT,SASL_PLAINTEXT://127.0.0.1:$PORT_SASL_PLAINTEXT,SSL://127.0.0.1:$PORT_SSL,SASL_SSL://127.0.0.1:$PORT_SASL_SSL
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DIR/data

auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4

ssl.keystore.type=PEM
ssl.keystore.location=$tls/server-keystore.pem
ssl.client.auth=none

sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
EOF
    for l in sasl_plaintext sasl_ssl; do
      sasl_jaas="org.apache.kafka.common.security.plain.PlainLoginModule required user_$PLAIN_USER=\"$PLAIN_PASSWORD\";"
      echo "listener.name.$l.plain.sasl.jaas.config=$sasl_jaas"
      echo "listener.name.$l.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
      echo "listener.name.$l.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
    done
  } >"$KAFKA_DIR/server.properties"
}

# kafka_stop TERM|KILL: stops the Kafka this checkout started (TERM: controlled shutdown).
kafka_stop() {
  local pid sig=${1:-TERM} i
  if ! pid=$(kafka_pid); then rm -f "$STACK/kafka.pid"; return 0; fi
  say "stopping Kafka (pid $pid, SIG$sig)"
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 120; i++)); do
    alive "$pid" || break
    sleep 0.25
  done
  if alive "$pid"; then
    say "Kafka (pid $pid) still running after 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$STACK/kafka.pid"
}
