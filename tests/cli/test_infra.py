"""`scripts/infra.sh up` prints a URL whose database exists: deploy/postgres/postgres.py creates it (once)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
import pytest

from tests.helpers.databases import drop_database
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess


def test_createdb_creates_the_database_once(server_url: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    name = f"millstream_infra_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "POSTGRES_PORT": str(info.get("port", 5432))}
    command = [sys.executable, "deploy/postgres/postgres.py", "createdb", name]
    try:
        for _ in range(2):  # the second time it exists already: still fine
            result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                                    check=False)
            assert result.returncode == 0, result.stderr
        with psycopg.connect(psycopg.conninfo.make_conninfo(server_url, dbname=name)) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        drop_database(psycopg.conninfo.make_conninfo(server_url, dbname=name))
