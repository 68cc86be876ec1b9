#!/usr/bin/env bash
# Development/test Apache Kafka broker (KRaft, combined mode) on 127.0.0.1 from Maven Central jars.
#
#   deploy/kafka/kafka.sh fetch    download the jars once into .cache/kafka/libs
#   deploy/kafka/kafka.sh start    fetch if needed, format storage once, start, wait until it answers
#   deploy/kafka/kafka.sh stop     stop the broker this script started
#   deploy/kafka/kafka.sh status   exit 0 when a broker answers on the port
#
# Idempotent: `start` reuses a broker that already answers on KAFKA_PORT (default 19092).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${MILLSTREAM_CACHE:-$root/.cache}/kafka"
libs="$cache/libs"
export KAFKA_PORT="${KAFKA_PORT:-19092}"
export CONTROLLER_PORT="${CONTROLLER_PORT:-19093}"
export KAFKA_DATA="${KAFKA_DATA:-$cache/data-$KAFKA_PORT}"
pidfile="$cache/broker-$KAFKA_PORT.pid"
logs="${KAFKA_LOGS:-$cache}"  # server.log (log4j2); scripts/with-infra.sh gives each run its own
heap="${KAFKA_HEAP:--Xms256m -Xmx512m}"

log() { echo "[kafka] $*" >&2; }

render_config() {
  sed -e "s|\${KAFKA_PORT}|$KAFKA_PORT|g" -e "s|\${CONTROLLER_PORT}|$CONTROLLER_PORT|g" \
      -e "s|\${KAFKA_DATA}|$KAFKA_DATA|g" "$here/server.properties" > "$cache/server-$KAFKA_PORT.properties"
}

answers() {
  # A TCP connect is not enough (the socket opens before the broker is ready): ask for metadata.
  "$root/.venv/bin/python" - "$KAFKA_PORT" <<'PY' 2>/dev/null
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{sys.argv[1]}", "socket.timeout.ms": 2000})
md = admin.list_topics(timeout=3)
sys.exit(0 if md.brokers else 1)
PY
}

fetch() {
  if [ -f "$libs/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  command -v java >/dev/null || { log "java not found: install a JDK 17+"; exit 1; }
  log "fetching Kafka jars from Maven Central into $libs (once)"
  mkdir -p "$libs"
  mvn -B -q -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies >&2 \
      -DoutputDirectory="$libs" -DincludeScope=runtime -DexcludeTransitive=false
  touch "$libs/.complete"
}

format_storage() {
  if [ -f "$KAFKA_DATA/meta.properties" ]; then return 0; fi
  mkdir -p "$KAFKA_DATA"
  render_config
  local cluster_id
  cluster_id="$(java -cp "$libs/*" org.apache.kafka.common.Uuid 2>/dev/null || true)"
  [ -n "$cluster_id" ] || cluster_id="$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid)"
  log "formatting storage in $KAFKA_DATA (cluster $cluster_id)"
  java -Dkafka.logs.dir="$logs" -Dlog4j2.configurationFile="$here/log4j2.properties" \
      -cp "$libs/*" kafka.tools.StorageTool format --standalone \
      -t "$cluster_id" -c "$cache/server-$KAFKA_PORT.properties" >/dev/null
}

start() {
  if answers; then log "a broker already answers on 127.0.0.1:$KAFKA_PORT; reusing it"; return 0; fi
  fetch
  mkdir -p "$cache"
  render_config
  format_storage
  log "starting broker on 127.0.0.1:$KAFKA_PORT"
  # shellcheck disable=SC2086
  nohup java $heap -XX:+UseG1GC -Djava.awt.headless=true \
      -Dkafka.logs.dir="$logs" -Dlog4j2.configurationFile="$here/log4j2.properties" \
      -cp "$libs/*" kafka.Kafka "$cache/server-$KAFKA_PORT.properties" \
      > "$cache/broker-$KAFKA_PORT.out" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 120); do
    if answers; then log "broker ready on 127.0.0.1:$KAFKA_PORT"; return 0; fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      log "broker exited during start; last lines of its output:"; tail -n 30 "$cache/broker-$KAFKA_PORT.out" >&2
      tail -n 30 "$logs/server.log" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 1
  done
  log "broker did not answer within 120 s"; exit 1
}

stop() {
  if [ ! -f "$pidfile" ]; then log "no broker started by this script on port $KAFKA_PORT"; return 0; fi
  local pid; pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping broker (pid $pid)"
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) answers ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
