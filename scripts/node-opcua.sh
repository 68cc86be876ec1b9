#!/usr/bin/env bash
# The node-opcua sample server: a third-party OPC-UA peer (Node.js) for the connector tests and benchmarks.
#   scripts/node-opcua.sh install       npm ci the pinned packages into deploy/node-opcua/node_modules (if missing)
#   scripts/node-opcua.sh run PORT      run the sample server on 127.0.0.1:PORT (installs first)
# Its bin shebang is broken ("#!/usr/bin / env node"), so node is called explicitly.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/deploy/node-opcua"
server="$dir/node_modules/node-opcua-samples/bin/simple_server.js"

install() {
  if [ -f "$server" ]; then return; fi
  command -v npm >/dev/null || { echo "npm is missing: run scripts/bootstrap-system.sh (as root)" >&2; exit 1; }
  echo "[node-opcua] npm ci in $dir" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
}

case "${1:-}" in
  install) install ;;
  run)
    install
    exec node "$server" -p "${2:?port}" --silent ;;
  *) echo "usage: $0 install | run PORT" >&2; exit 2 ;;
esac
