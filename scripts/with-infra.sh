#!/usr/bin/env bash
# Run a command (the test suite, benchmarks) with its own Kafka broker and PostgreSQL, then stop them and
# delete their data — also on failure or Ctrl-C. Exit status is the command's.
#
# Each run picks free ports and a private data directory, so two runs on one machine never share or stop
# each other's services. Services the environment already points at are used instead:
#   MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS set -> no broker is started
#   MILLSTREAM_DATABASE__URL set            -> no PostgreSQL is started
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mkdir -p .cache
run_dir="$(mktemp -d "$root/.cache/run-XXXXXX")"
read -r KAFKA_PORT CONTROLLER_PORT POSTGRES_PORT < <(.venv/bin/python - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
)
export KAFKA_PORT CONTROLLER_PORT POSTGRES_PORT
export KAFKA_DATA="$run_dir/kafka" POSTGRES_DATA="$run_dir/postgres"
export INFRA_STATE="$run_dir/started"

finish() {
  local rc=$?
  scripts/infra.sh down || true
  rm -rf "$run_dir" .cache/kafka/*-"$KAFKA_PORT".* 2>/dev/null || true
  exit $rc
}
trap finish EXIT INT TERM
eval "$(scripts/infra.sh up)"
"$@"
