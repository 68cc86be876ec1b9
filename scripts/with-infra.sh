#!/usr/bin/env bash
# Run a command with Kafka and PostgreSQL available (scripts/infra.sh), then stop only what was started
# for it — also on failure or Ctrl-C. Exit status is the command's.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mkdir -p .cache
INFRA_STATE="$(mktemp "$root/.cache/infra.XXXXXX")"
export INFRA_STATE
trap 'rc=$?; scripts/infra.sh down; exit $rc' EXIT INT TERM
eval "$(scripts/infra.sh up)"
"$@"
