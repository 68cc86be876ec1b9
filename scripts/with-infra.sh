#!/usr/bin/env bash
# Run a command (the test suite, benchmarks) with its own Kafka broker and PostgreSQL, then stop them and
# delete their data — also on failure or Ctrl-C. Exit status is the command's.
#
# Each run picks free ports (below the kernel's ephemeral range, so outgoing connections cannot take them
# between the pick and the bind) and a private data directory, so two runs on one machine never share or
# stop each other's services. Services the environment already points at are used instead:
#   MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS set -> no broker is started
#   MILLSTREAM_DATABASE__URL set            -> no PostgreSQL is started
# If a service fails to start, the command is not run and the service's log is shown.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mkdir -p .cache
run_dir="$(mktemp -d "$root/.cache/run-XXXXXX")"
read -r KAFKA_PORT CONTROLLER_PORT POSTGRES_PORT < <(.venv/bin/python - <<'PY'
import random
import socket

low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
ports: list[int] = []
while len(ports) < 3:
    port = random.randint(20000, max(20001, low - 1))
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    if port not in ports:
        ports.append(port)
print(*ports)
PY
)
export KAFKA_PORT CONTROLLER_PORT POSTGRES_PORT
export KAFKA_DATA="$run_dir/kafka" KAFKA_LOGS="$run_dir" POSTGRES_DATA="$run_dir/postgres"
export INFRA_STATE="$run_dir/started"

show_logs() {
  echo "[infra] service logs of this run:" >&2
  tail -n 40 ".cache/kafka/broker-$KAFKA_PORT.out" "$run_dir/server.log" >&2 2>/dev/null || true
  tail -n 40 "$POSTGRES_DATA/server.log" >&2 2>/dev/null || true
}

finish() {
  local rc=$?
  scripts/infra.sh down || true
  rm -rf "$run_dir" .cache/kafka/*-"$KAFKA_PORT".* 2>/dev/null || true
  exit $rc
}
trap finish EXIT INT TERM

if ! exports="$(scripts/infra.sh up)"; then
  echo "[infra] Kafka or PostgreSQL did not start; the tests were not run" >&2
  show_logs
  exit 1
fi
eval "$exports"
: "${MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS:?infra did not export the Kafka address}"
: "${MILLSTREAM_DATABASE__URL:?infra did not export the PostgreSQL URL}"
"$@"
