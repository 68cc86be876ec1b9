"""``millstream scorecard``: the figures from a database's ground truth and decisions (``--json`` and the
table), and exit 3 with one line when PostgreSQL is unreachable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.postgres.database import connect
from connectors.postgres.ground_truth import store_facts
from connectors.postgres.migrations import migrate
from millstream.scorecard import TruthFact
from millstream.settings import load_settings
from tests.helpers.databases import create_database, drop_database
from tests.helpers.net import free_port

pytestmark = pytest.mark.subprocess

MILLSTREAM = str(Path(sys.executable).parent / "millstream")
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def millstream(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MILLSTREAM, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env, "COLUMNS": "200"}, check=False)


@pytest.fixture
def database(server_url: str) -> Iterator[str]:
    url = create_database(server_url, "millstream_score")
    settings = load_settings(database={"url": url})
    with connect(settings.database) as conn:
        migrate(conn, settings.database)
        m, hours = "CNC-01", [0, 10, 20, 22]
        kinds = ["order_started", "degradation_onset", "failure", "repaired"]
        store_facts(conn, [*(TruthFact(T0 + timedelta(hours=x), k, m) for x, k in zip(hours, kinds, strict=True)),
                           TruthFact(T0 + timedelta(days=7), "order_started", "CNC-02")], "plant", "r")
        conn.execute("INSERT INTO alerts (id, subject_kind, subject_id, alert_type, domain, severity, state,"
                     " opened_at, occurred_at) VALUES ('a1', 'machine', 'CNC-01', 'maintenance.failure_risk',"
                     " 'maintenance', 'major', 'open', %s, %s)", (T0 + timedelta(hours=15),) * 2)
        conn.commit()
    yield url
    drop_database(url)


def test_json_and_table(database: str) -> None:
    result = millstream("scorecard", "--json", MILLSTREAM_DATABASE__URL=database)
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert card["as_of"] == (T0 + timedelta(days=7)).isoformat()  # the newest fact: no simulation_runs row
    m = card["maintenance"]
    assert m["failures"] == 1 and m["failures_alerted_share"] == {"value": 1.0, "n": 1}
    assert m["lead_share_median"] == {"value": 0.5, "n": 1} and m["lead_hours_median"] == {"value": 5.0, "n": 1}
    assert m["false_alerts_per_machine_week"] == {"value": 0.0, "n": 0}  # CNC-01 observed one week, CNC-02 none
    assert card["logistics"]["delay_alert_recall"] == {"value": None, "n": 0}
    table = millstream("scorecard", MILLSTREAM_DATABASE__URL=database)
    assert table.returncode == 0, table.stderr
    assert "failures_alerted_share" in table.stdout and "lead_share_median" in table.stdout


def test_postgres_unreachable_is_exit_3() -> None:
    result = millstream("scorecard", MILLSTREAM_DATABASE__URL=f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    assert result.returncode == 3
    assert "PostgreSQL" in result.stderr and len(result.stderr.strip().splitlines()) == 1
