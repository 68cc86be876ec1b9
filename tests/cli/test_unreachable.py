"""Every command that needs Kafka or PostgreSQL: unreachable -> exit 3 within ~15 s, one line naming it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.helpers.net import free_port
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

CLOSED = free_port()  # nothing listens here
KAFKA_DOWN = {"MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{CLOSED}"}
DB_DOWN = {"MILLSTREAM_DATABASE__URL": f"postgresql://postgres@127.0.0.1:{CLOSED}/millstream"}

COMMANDS = [
    (["ingest", "--once"], KAFKA_DOWN, "Kafka"),
    (["ingest", "--once"], DB_DOWN, "PostgreSQL"),
    (["maintenance", "--once"], KAFKA_DOWN, "Kafka"),
    (["logistics", "--once"], DB_DOWN, "PostgreSQL"),
    (["inventory", "--once"], KAFKA_DOWN, "Kafka"),
    (["bridge", "opcua", "--endpoint", "opc.tcp://127.0.0.1:4840", "--node", "ns=1;s=T", "--allow-insecure"],
     KAFKA_DOWN, "Kafka"),
    (["dispatch", "--once"], DB_DOWN, "PostgreSQL"),
    (["simulate", "fleet", "--duration", "1"], KAFKA_DOWN, "Kafka"),
    (["simulate", "gates", "--duration", "1"], KAFKA_DOWN, "Kafka"),
    (["api", "serve", "--port", str(free_port())], DB_DOWN, "PostgreSQL"),
    (["db", "migrate"], DB_DOWN, "PostgreSQL"),
    (["masterdata", "load", "scenarios/demo.yaml"], DB_DOWN, "PostgreSQL"),
    (["kafka", "create-topics"], KAFKA_DOWN, "Kafka"),
]


@pytest.mark.parametrize(("argv", "down", "service"), COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list)
                         else None)
def test_an_unreachable_service_is_one_line_and_exit_3(argv: list[str], down: dict[str, str], service: str,
                                                      kafka_bootstrap: str, session_database: str) -> None:
    env = {**os.environ, "MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap,
           "MILLSTREAM_DATABASE__URL": session_database, **down, "COLUMNS": "300"}
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "cli", *argv], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    elapsed = time.monotonic() - t0
    assert result.returncode == 3, result.stdout + result.stderr
    assert elapsed < 20, f"took {elapsed:.1f} s"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert service in lines[0] and f"127.0.0.1:{CLOSED}" in lines[0], lines[0]
