"""``millstream simulate fleet --ground-truth-db``: the facts land in PostgreSQL's ground_truth, exactly those of
the JSON-lines file, and a second run of the same timeline (a replay under ``up``) stores nothing twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from connectors.postgres.database import connect
from connectors.postgres.ground_truth import fact_id, query_facts
from connectors.postgres.migrations import migrate
from millstream.settings import load_settings
from tests.helpers.databases import create_database, drop_database
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

CLI = str(Path(sys.executable).parent / "millstream")


def test_fleet_facts_are_stored_once_with_the_runs_clock(kafka_bootstrap: str, server_url: str,
                                                         tmp_path: Path) -> None:
    url = create_database(server_url, "millstream_truth")
    try:
        settings = load_settings(database={"url": url})
        with connect(settings.database) as conn:
            migrate(conn, settings.database)
        env = {**os.environ, "MILLSTREAM_DATABASE__URL": url,
               "MILLSTREAM_KAFKA__TOPIC_PREFIX": f"gt{uuid.uuid4().hex[:8]}.",
               # a run's clock, as `millstream up` gives it: both runs play the same timeline
               "MILLSTREAM_CLOCK__START": "2026-03-02T07:40:00Z", "MILLSTREAM_CLOCK__ORIGIN": "2026-03-02T07:40:00Z",
               "MILLSTREAM_CLOCK__WALL_START": str(time.time()), "MILLSTREAM_CLOCK__SPEED": "1000000"}
        truth = tmp_path / "fleet.jsonl"
        for _ in range(2):
            args = ["simulate", "fleet", "--seed", "4", "--duration", "30", "--since", "2026-03-02T07:40:00Z",
                    "--ground-truth", str(truth), "--ground-truth-db"]
            result = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=180, cwd=ROOT, env=env)
            assert result.returncode == 0, result.stderr
        expected = {fact_id(datetime.fromisoformat(f.pop("time")), f.pop("kind"), f.pop("subject"), f)
                    for f in (json.loads(line) for line in truth.read_text().splitlines())}
        with connect(settings.database) as conn:
            stored = query_facts(conn)
        assert {f.id for f in stored} == expected and len(stored) == len(expected)
        assert {f.source for f in stored} == {"fleet"}
        assert {f.run for f in stored} == {"2026-03-02T07:40:00+00:00"}
        assert sum(1 for f in stored if f.kind == "arrival") == 5
    finally:
        drop_database(url)


def test_an_unreachable_database_is_exit_3() -> None:
    result = subprocess.run([CLI, "simulate", "gates", "--duration", "1", "--ground-truth-db"], capture_output=True,
                            text=True, timeout=60, cwd=ROOT,
                            env={**os.environ, "MILLSTREAM_DATABASE__URL": "postgresql://u@127.0.0.1:1/x"})
    assert result.returncode == 3, result.stderr
    assert "PostgreSQL" in result.stderr
