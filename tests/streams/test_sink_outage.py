"""The database goes away in the middle of a batch and comes back: the ingest sink retries with backoff on a
fresh connection, says so in its log and metrics, and in the end nothing is lost and nothing duplicated.

The outage is real and lands mid-batch: a trigger on ``gps_pings`` terminates its own backend (the
``pg_terminate_backend`` an operator or a restart would send) when it meets one marked row — twice — and while
the sink is reconnecting the database refuses connections for a few seconds (``ALLOW_CONNECTIONS false``),
as a restarting server does. The shared server itself keeps running.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from bytewax.testing import run_main
from prometheus_client import REGISTRY
from psycopg import sql

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import DLQ, FLEET_GPS, TELEMETRY_READINGS, TELEMETRY_STATUS, WAREHOUSE_RFID
from millstream.events import GpsPing
from millstream.settings import Settings
from streams.ingest import build_flow
from tests.helpers.kafka import dlq_size

PINGS = 3000
KILLS = 2
OUTAGE_S = 3.0
NOW = datetime.now(UTC).replace(microsecond=0)

_KILLER = """
CREATE SEQUENCE IF NOT EXISTS {seq};
CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.truck_id = {truck} AND nextval({seq_name}) <= {kills} THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER {trigger} BEFORE INSERT ON gps_pings FOR EACH ROW EXECUTE FUNCTION {fn}();
"""


def _retries() -> float:
    return sum(s.value for m in REGISTRY.collect() if m.name == "millstream_sink_retries"
               for s in m.samples if s.name.endswith("_total") and "store_pings" in s.labels.get("step", ""))


def test_database_gone_mid_batch_loses_and_duplicates_nothing(
    settings: Settings, db: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = settings.kafka.topic_prefix
    tag = prefix.strip(".")
    dbname = db.info.dbname
    kill_truck = f"{prefix}KILL"
    create_topics(settings.kafka, [TELEMETRY_READINGS, TELEMETRY_STATUS, FLEET_GPS, WAREHOUSE_RFID, DLQ])
    pings = [GpsPing(truck_id=f"{prefix}T{i % 10}", lat=53.4, lon=-2.9 + i / 10_000,
                     timestamp=NOW - timedelta(seconds=PINGS - i)) for i in range(PINGS)]
    pings[PINGS // 2] = GpsPing(truck_id=kill_truck, lat=53.0, lon=-2.0, timestamp=NOW - timedelta(seconds=1))
    with EventProducer(settings.kafka) as producer:
        for ping in pings:
            producer.send(FLEET_GPS, ping)

    names = {"seq": sql.Identifier(f"kill_{tag}"), "seq_name": sql.Literal(f"kill_{tag}"),
             "fn": sql.Identifier(f"kill_{tag}"), "trigger": sql.Identifier(f"kill_{tag}"),
             "truck": sql.Literal(kill_truck), "kills": sql.Literal(KILLS)}
    db.execute(sql.SQL(_KILLER).format(**names))
    db.commit()
    admin_url = psycopg.conninfo.make_conninfo(settings.database.url.get_secret_value(), dbname="postgres")
    done = threading.Event()

    def restart_when_killed() -> None:
        """After the first kill, refuse connections for OUTAGE_S (a database restarting), then accept again."""
        with psycopg.connect(settings.database.url.get_secret_value(), autocommit=True) as watch, \
                psycopg.connect(admin_url, autocommit=True) as admin:
            while not done.is_set():
                called = watch.execute(sql.SQL("SELECT is_called FROM {}").format(names["seq"])).fetchone()
                if called and called[0]:
                    admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(dbname)))
                    time.sleep(OUTAGE_S)
                    admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(dbname)))
                    return
                time.sleep(0.02)

    watcher = threading.Thread(target=restart_when_killed, daemon=True)
    watcher.start()
    retries_before = _retries()
    try:
        with caplog.at_level(logging.WARNING, logger="connectors.postgres.sink"):
            run_main(build_flow(settings, follow=False))
        fired = db.execute(sql.SQL("SELECT last_value FROM {}").format(names["seq"])).fetchone()["last_value"]
    finally:
        done.set()
        watcher.join(OUTAGE_S + 5)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(dbname)))
        db.execute(sql.SQL("DROP TRIGGER IF EXISTS {trigger} ON gps_pings; DROP FUNCTION IF EXISTS {fn}(); "
                           "DROP SEQUENCE IF EXISTS {seq}").format(**names))
        db.commit()

    rows = db.execute("SELECT event_id, count(*) AS n FROM gps_pings WHERE truck_id LIKE %s GROUP BY event_id",
                      (prefix + "%",)).fetchall()
    assert len(rows) == PINGS  # nothing lost ...
    assert {r["event_id"] for r in rows} == {p.id for p in pings}
    assert all(r["n"] == 1 for r in rows)  # ... nothing duplicated
    letters = db.execute("SELECT count(*) AS n FROM dead_letters WHERE payload LIKE %s", (f"%{prefix}%",)).fetchone()
    assert letters["n"] == 0  # an outage is not the data's fault: no dead letter
    assert dlq_size(settings) == 0
    assert fired > KILLS  # the marked row was met twice with a kill, then written
    assert _retries() - retries_before >= KILLS + 1  # two kills and at least one refused reconnect
    messages = [r.getMessage() for r in caplog.records]
    assert any("database unavailable" in m and "retry 1 in" in m for m in messages)
    assert any("database back after" in m for m in messages)
