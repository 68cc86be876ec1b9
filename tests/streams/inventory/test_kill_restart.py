"""``millstream inventory`` killed with SIGKILL mid-run and restarted (with a recovery directory): the ledger
ends exact against the ground truth and every movement, confirmation and proposal is in the ERP outbox once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import psycopg
import pytest

from millstream.settings import Settings
from tests.helpers.inventory import expected_stock, ledger_stock, publish, simulate
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

MILLSTREAM = str(ROOT / ".venv" / "bin" / "millstream")


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
            "MILLSTREAM_DATABASE__URL": settings.database.url.get_secret_value(),
            "MILLSTREAM_INVENTORY__LATE_WAIT_S": "300"}


def test_kill_9_and_restart_books_everything_once(inv_settings: Settings, inv_db: psycopg.Connection,
                                                  tmp_path: Path) -> None:
    day = simulate(hours=4)
    publish(inv_settings, day.readings, day.reads)
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_bytes(orjson.dumps(day.scenario.model_dump(mode="json")))
    command = [MILLSTREAM, "inventory", "--scenario", str(scenario_file), "--recovery-dir", str(tmp_path / "rec")]
    env = {**_env(inv_settings), "MILLSTREAM_INVENTORY__DEDUP_WINDOW_S": "10"}

    first = subprocess.Popen([*command, "--follow"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            applied = inv_db.execute("SELECT count(*) AS n FROM stock_movements").fetchone()["n"]
            if applied > 200:
                break
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            time.sleep(0.05)
        else:
            raise AssertionError("the flow applied nothing within 60 s")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL

    second = subprocess.run([*command, "--once"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180,
                            check=False)
    assert second.returncode == 0, second.stderr
    assert "inventory finished" in second.stdout and "ledger: " in second.stdout

    assert ledger_stock(inv_db) == expected_stock(day)
    movements = inv_db.execute("SELECT movement_type, count(*) AS n FROM stock_movements GROUP BY 1").fetchall()
    kinds = {r["movement_type"]: r["n"] for r in movements}
    outbox = inv_db.execute(
        "SELECT count(*) AS n, count(DISTINCT record->'payload'->>'movement_id') AS distinct_movements "
        "FROM erp_outbox WHERE record_type NOT IN ('inventory.stock_exception', 'inventory.reorder_proposal', "
        "'production.confirmation')").fetchone()
    assert outbox["n"] == outbox["distinct_movements"] == sum(kinds.values()) - kinds["opening"]
    confirmations = inv_db.execute("SELECT count(*) AS n FROM erp_outbox WHERE record_type = "
                                   "'production.confirmation'").fetchone()["n"]
    backflushed = inv_db.execute("SELECT count(DISTINCT (reference, occurred_at, machine_id)) AS n FROM "
                                 "stock_movements WHERE movement_type = 'backflush'").fetchone()["n"]
    assert confirmations == backflushed  # one confirmation per production delta, none twice
    exceptions = inv_db.execute("SELECT count(*) AS n FROM stock_exceptions").fetchone()["n"]
    assert inv_db.execute("SELECT count(*) AS n FROM erp_outbox WHERE record_type = 'inventory.stock_exception'"
                          ).fetchone()["n"] == exceptions
    proposals = inv_db.execute("SELECT count(*) AS n FROM reorder_proposals").fetchone()["n"]
    assert inv_db.execute("SELECT count(*) AS n FROM erp_outbox WHERE record_type = 'inventory.reorder_proposal'"
                          ).fetchone()["n"] == proposals
