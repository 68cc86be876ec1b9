#!/usr/bin/env bash
# Install the system tools Millstream's development infrastructure needs, when missing (Debian, as root):
# Python venv support, a JDK and Maven (Kafka broker from Maven Central jars), Node.js + npm (node-opcua peer),
# Debian's chromium (the browser tests drive it; Playwright never downloads a browser) and a Chinese font for it.
set -euo pipefail
need=()
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
command -v java >/dev/null || need+=(default-jdk-headless)
command -v mvn >/dev/null || need+=(maven)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -n "$(fc-list :lang=zh 2>/dev/null)" ] || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "missing system packages: ${need[*]} (install them as root)" >&2; exit 1; fi
  echo "[bootstrap] installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
