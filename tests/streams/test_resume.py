"""`millstream ingest` resumes where it stopped, on the real broker and database, run as a user runs it:
a second `--once` adds nothing to any table or to dlq, `--from-beginning` replays on purpose, and recovery
state that no longer fits the broker (topics recreated, another cluster) is cleared with one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient

from connectors.kafka.admin import create_topics
from connectors.kafka.clients import admin_config
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import DLQ, FLEET_GPS, TELEMETRY_READINGS, TELEMETRY_STATUS, WAREHOUSE_RFID
from millstream.events import GpsPing
from millstream.settings import Settings
from streams.recovery import default_recovery_dir
from tests.helpers.kafka import dlq_size
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

MILLSTREAM = str(Path(sys.executable).with_name("millstream"))
TOPICS = [TELEMETRY_READINGS, TELEMETRY_STATUS, FLEET_GPS, WAREHOUSE_RFID, DLQ]
NOW = datetime.now(UTC).replace(microsecond=0)


def ingest(settings: Settings, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300", "MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MILLSTREAM_DATABASE__URL": settings.database.url.get_secret_value(), "MILLSTREAM_DATA_DIR": str(data_dir)}
    result = subprocess.run([MILLSTREAM, "ingest", "--once", *args], capture_output=True, text=True, env=env,
                            timeout=180, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    return result


def pings(truck: str, n: int) -> list[GpsPing]:
    return [GpsPing(truck_id=truck, lat=53.4, lon=-2.9 + i / 1000, timestamp=NOW - timedelta(seconds=n - i))
            for i in range(n)]


def publish(settings: Settings, events: list[GpsPing], bad: int) -> None:
    with EventProducer(settings.kafka) as producer:
        for i, event in enumerate(events):
            producer.send(FLEET_GPS, event)
            if i < bad:
                producer.send_raw(FLEET_GPS, b'{"truck_id": "broken %d"' % i, key=b"broken")


def stored(db: psycopg.Connection, settings: Settings) -> tuple[int, int]:
    """(GPS pings, dead letters) stored from this test's topics."""
    pings_n = db.execute("SELECT count(*) AS n FROM gps_pings WHERE truck_id LIKE %s",
                         (settings.kafka.topic_prefix + "%",)).fetchone()["n"]
    letters = db.execute("SELECT count(*) AS n FROM dead_letters WHERE source_topic = %s",
                         (FLEET_GPS.full_name(settings.kafka),)).fetchone()["n"]
    db.rollback()
    return pings_n, letters


def test_second_once_run_adds_nothing_and_from_beginning_replays(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    create_topics(settings.kafka, TOPICS)
    publish(settings, pings(settings.kafka.topic_prefix + "A", 20), bad=3)

    first = ingest(settings, tmp_path)
    assert "first run" in first.stdout
    assert default_recovery_dir(settings, "ingest").name in first.stdout
    assert stored(db, settings) == (20, 3)
    assert dlq_size(settings) == 3

    second = ingest(settings, tmp_path)
    assert "resuming from the recovery snapshots" in second.stdout
    assert stored(db, settings) == (20, 3)
    assert dlq_size(settings) == 3  # nothing re-read, so nothing dead-lettered again

    # New messages after a resume are read, and only they.
    publish(settings, pings(settings.kafka.topic_prefix + "B", 5), bad=1)
    ingest(settings, tmp_path)
    assert stored(db, settings) == (25, 4)
    assert dlq_size(settings) == 4

    replay = ingest(settings, tmp_path, "--from-beginning")
    assert "replaying from the beginning" in replay.stdout
    assert stored(db, settings) == (25, 4)  # idempotent sinks: a replay adds no row
    assert dlq_size(settings) == 8  # ... while dlq gets each letter again, under the same id


def test_recreated_topics_are_detected_and_read_from_their_start(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    """A broker that lost its topics (the embedded broker keeps nothing across runs) while the recovery
    directory and the database survived: ingest starts cleanly on the new topics instead of waiting."""
    create_topics(settings.kafka, TOPICS)
    publish(settings, pings(settings.kafka.topic_prefix + "A", 12), bad=0)
    ingest(settings, tmp_path)
    assert stored(db, settings) == (12, 0)

    admin = AdminClient(admin_config(settings.kafka))
    names = [t.full_name(settings.kafka) for t in TOPICS]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result(timeout=30)
    deadline = time.monotonic() + 60
    while True:  # deletion completes asynchronously on the broker
        try:
            if all(r.status == "created" for r in create_topics(settings.kafka, TOPICS)):
                break
        except Exception:  # "marked for deletion" until the broker has finished
            pass
        assert time.monotonic() < deadline, "the broker did not recreate the topics"
        time.sleep(1)
    publish(settings, pings(settings.kafka.topic_prefix + "C", 4), bad=0)

    again = ingest(settings, tmp_path)
    assert "does not fit the broker" in again.stdout
    assert "recreated or emptied" in again.stdout or "no longer exists" in again.stdout
    assert stored(db, settings) == (16, 0)

    # A broker that is another cluster (the embedded one is new on every start): cleared as well.
    cluster_file = tmp_path / "recovery" / f"{settings.kafka.topic_prefix}ingest" / "kafka-cluster-id"
    real = cluster_file.read_text().strip()
    assert real
    cluster_file.write_text("another-cluster\n")
    other = ingest(settings, tmp_path)
    assert f"is a new cluster (id {real}, was another-cluster)" in other.stdout
    assert cluster_file.read_text().strip() == real
    assert stored(db, settings) == (16, 0)
