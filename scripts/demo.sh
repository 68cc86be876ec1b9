#!/usr/bin/env bash
# `make demo`: run the whole system with `millstream up` (Ctrl-C stops it). Without MILLSTREAM_KAFKA__* and
# MILLSTREAM_DATABASE__URL it uses an embedded broker and an embedded PostgreSQL (data in .millstream/, kept
# across runs); neither Java nor Node.js is needed. Options go through DEMO_ARGS, e.g.
#   make demo DEMO_ARGS="--speed 10 --admin-key my-key"
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck disable=SC2086 # DEMO_ARGS is split into options on purpose
exec .venv/bin/millstream up ${DEMO_ARGS:-}
