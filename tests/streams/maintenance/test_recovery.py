"""Killed with SIGKILL in the middle and restarted, the maintenance flow adds no duplicate alert or ERP record.

Runs ``millstream maintenance`` as a real process against the real broker and a database of its own, with a
Bytewax recovery directory: the restart resumes from the last snapshot and replays what came after it, which the
idempotent sinks (stable ids) must absorb.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import ALERTS, DLQ, TELEMETRY_READINGS
from connectors.postgres.database import connect
from connectors.postgres.masterdata import load_scenario
from connectors.postgres.migrations import migrate
from millstream.masterdata import read_scenario as read_scenario_file
from millstream.settings import DatabaseSettings, Settings
from models.artifact import Registry
from tests.helpers.maintenance import history, readings_of
from tests.helpers.paths import DEMO, ROOT

pytestmark = pytest.mark.subprocess


def _wait(what: str, check: Callable[[], bool], timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def _count(db: psycopg.Connection, sql: str, machine: str) -> int:
    n = db.execute(sql, (machine,)).fetchone()["n"]
    db.rollback()
    return int(n)


def test_killed_and_restarted_it_duplicates_nothing(settings: Settings, empty_database: str, registry: Registry,
                                                    tmp_path: Path) -> None:
    settings = settings.model_copy(update={"database": DatabaseSettings(url=empty_database)})
    db = connect(settings.database)
    migrate(db, settings.database)
    create_topics(settings.kafka, [TELEMETRY_READINGS, DLQ, ALERTS])
    load_scenario(db, read_scenario_file(DEMO))
    db.commit()
    machine = "CNC-02"
    with EventProducer(settings.kafka) as producer:
        for reading in readings_of(machine, history(seed=202)):
            producer.send(TELEMETRY_READINGS, reading)
    env = {**os.environ, "MILLSTREAM_DATABASE__URL": settings.database.url.get_secret_value(),
           "MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MILLSTREAM_MAINTENANCE__MODEL_REGISTRY": str(registry.root)}
    argv = [str(Path(sys.executable).with_name("millstream")), "maintenance",
            "--recovery-dir", str(tmp_path / "recovery")]
    scores = "SELECT count(*) AS n FROM maintenance_scores WHERE machine_id = %s"
    alerts = "SELECT count(*) AS n FROM alerts WHERE subject_id = %s AND alert_type = 'maintenance.failure_risk'"
    erp = ("SELECT count(*) AS n FROM erp_outbox WHERE subject_id = %s "
           "AND record_type = 'production.maintenance_notification'")

    first = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait("the first scores", lambda: _count(db, scores, machine) > 0)
        time.sleep(12)  # past a recovery snapshot (every 10 s)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL

    second = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait("the alert", lambda: _count(db, erp, machine) > 0)
        last = -1
        while (now := _count(db, scores, machine)) != last:  # until the scores stop growing
            last = now
            time.sleep(8)
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert _count(db, alerts, machine) == 1
    records = db.execute("SELECT record_key, record->'payload'->>'severity' AS severity FROM erp_outbox "
                         "WHERE subject_id = %s AND record_type = 'production.maintenance_notification'",
                         (machine,)).fetchall()
    db.close()
    assert records and len(records) == len({(r["record_key"], r["severity"]) for r in records})
    assert len({r["record_key"] for r in records}) == 1  # one alert episode, notified on opening / escalation
