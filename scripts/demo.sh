#!/usr/bin/env bash
# `make demo`: start Kafka and PostgreSQL (left running; `make infra-down` stops them), apply migrations,
# create the topics and load the demo scenario. Later steps grow this into the full embedded run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
eval "$(scripts/infra.sh up)"
.venv/bin/python - <<'PY'
import os, psycopg
url = os.environ["MILLSTREAM_DATABASE__URL"]
info = psycopg.conninfo.conninfo_to_dict(url)
name = info.get("dbname", "millstream")
with psycopg.connect(psycopg.conninfo.make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
PY
.venv/bin/millstream db migrate
.venv/bin/millstream kafka create-topics
.venv/bin/millstream masterdata load scenarios/demo.yaml
cat <<MSG

Millstream demo infrastructure is up:
  Kafka       $MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS
  PostgreSQL  (database millstream, see MILLSTREAM_DATABASE__URL)
Point your shell at it:
  export MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS=$MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS
  export MILLSTREAM_DATABASE__URL=$MILLSTREAM_DATABASE__URL
Stop it with: make infra-down
MSG
