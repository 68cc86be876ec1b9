#!/usr/bin/env bash
# Start/stop the development infrastructure: Apache Kafka (KRaft, from Maven Central jars) and PostgreSQL
# (pip-embedded pgserver binaries), both on 127.0.0.1. Skips whatever the environment already points at:
#   MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS set  -> no broker is started
#   MILLSTREAM_DATABASE__URL set             -> no PostgreSQL is started
#
#   scripts/infra.sh up      start what is needed; prints `export ...` lines for eval
#   scripts/infra.sh down    stop what `up` started (recorded in $INFRA_STATE, default .cache/infra.started)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mkdir -p .cache
state="${INFRA_STATE:-.cache/infra.started}"
touch "$state"

up() {
  if [ -z "${MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS:-}" ]; then
    deploy/kafka/kafka.sh status >&2 || echo kafka >> "$state"
    deploy/kafka/kafka.sh start >&2
    echo "export MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:${KAFKA_PORT:-19092}"
  else
    echo "[infra] using Kafka at $MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS" >&2
  fi
  if [ -z "${MILLSTREAM_DATABASE__URL:-}" ]; then
    .venv/bin/python deploy/postgres/postgres.py status || echo postgres >> "$state"
    local url
    url="$(.venv/bin/python deploy/postgres/postgres.py start | tail -n 1)"
    [ -n "$url" ] || { echo "[infra] PostgreSQL did not start; see ${POSTGRES_DATA:-.cache/postgres-${POSTGRES_PORT:-15432}}/server.log" >&2; exit 1; }
    .venv/bin/python deploy/postgres/postgres.py createdb millstream >&2
    echo "export MILLSTREAM_DATABASE__URL=${url%/postgres}/millstream"
  else
    echo "[infra] using PostgreSQL from MILLSTREAM_DATABASE__URL" >&2
  fi
}

down() {
  if grep -qx kafka "$state"; then deploy/kafka/kafka.sh stop || true; fi
  if grep -qx postgres "$state"; then .venv/bin/python deploy/postgres/postgres.py stop || true; fi
  rm -f "$state"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
