"""The ingest flow on the real broker and database: events into tables, rejects to dlq + dead_letters,
and a second run over the same topics adds nothing (exactly-once effect through idempotent sinks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import psycopg
from bytewax.testing import cluster_main, run_main

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import DLQ, FLEET_GPS, TELEMETRY_READINGS, TELEMETRY_STATUS, WAREHOUSE_RFID
from millstream.events import GpsPing, RfidRead, SensorReading
from millstream.settings import Settings
from streams.ingest import build_flow
from tests.helpers.kafka import consume_all

NOW = datetime.now(UTC)


def table_counts(db: psycopg.Connection, ids: dict[str, list[str]], settings: Settings) -> dict[str, int]:
    counts = {table: db.execute(f"SELECT count(*) AS n FROM {table} WHERE event_id = ANY(%s)",
                                (event_ids,)).fetchone()["n"] for table, event_ids in ids.items()}
    topics = [t.full_name(settings.kafka) for t in (TELEMETRY_READINGS, FLEET_GPS, WAREHOUSE_RFID)]
    counts["dead_letters"] = db.execute("SELECT count(*) AS n FROM dead_letters WHERE source_topic = ANY(%s)",
                                        (topics,)).fetchone()["n"]
    db.rollback()
    return counts


def test_ingest_stores_events_once_and_dead_letters_rejects(settings: Settings, db: psycopg.Connection) -> None:
    create_topics(settings.kafka, [TELEMETRY_READINGS, TELEMETRY_STATUS, FLEET_GPS, WAREHOUSE_RFID, DLQ])
    readings = [SensorReading(machine_id="CNC-01", tag="spindle_speed", value=1200 + i, unit="rpm",
                              source_timestamp=NOW - timedelta(seconds=i)) for i in range(12)]
    readings.append(SensorReading(machine_id="CNC-01", tag="state", value="running", source_timestamp=NOW))
    pings = [GpsPing(truck_id="TRK-01", lat=53.4 + i / 1000, lon=-2.99, speed_kmh=50, timestamp=NOW - timedelta(
        seconds=10 * i)) for i in range(8)]
    reads = [RfidRead(reader_id="RDR-LIV-DOCK-01", antenna=1, epc="3074257BF7194E4000001A85", rssi_dbm=-60,
                      timestamp=NOW - timedelta(seconds=i)) for i in range(5)]
    bad = [orjson.dumps({"truck_id": "TRK-01", "lat": 95, "lon": 0, "timestamp": NOW.isoformat()}),
           b"not json at all",
           orjson.dumps({"reader_id": "R", "antenna": 1, "epc": "ZZ", "timestamp": NOW.isoformat()})]
    with EventProducer(settings.kafka) as producer:
        for event, topic in [*[(r, TELEMETRY_READINGS) for r in readings], *[(p, FLEET_GPS) for p in pings],
                             *[(r, WAREHOUSE_RFID) for r in reads]]:
            producer.send(topic, event)
        producer.send_raw(FLEET_GPS, bad[0])
        producer.send_raw(TELEMETRY_READINGS, bad[1])
        producer.send_raw(WAREHOUSE_RFID, bad[2])
    ids = {"sensor_readings": [r.id for r in readings], "gps_pings": [p.id for p in pings],
           "rfid_reads": [r.id for r in reads]}

    run_main(build_flow(settings, follow=False))
    first = table_counts(db, ids, settings)
    assert first == {"sensor_readings": 13, "gps_pings": 8, "rfid_reads": 5, "dead_letters": 3}
    state = db.execute("SELECT value_num, value_text FROM sensor_readings WHERE event_id = %s",
                       (readings[-1].id,)).fetchone()
    assert state == {"value_num": None, "value_text": "running"}
    reasons = {r["error_type"]: r["reason"] for r in db.execute(
        "SELECT error_type, reason FROM dead_letters WHERE source_topic = %s",
        (FLEET_GPS.full_name(settings.kafka),)).fetchall()}
    assert "lat: Input should be less than or equal to 90" in reasons["validation"]
    db.rollback()

    # A replay of the same topics (a restart without recovery) under two workers changes nothing.
    cluster_main(build_flow(settings, follow=False), [], 0, worker_count_per_proc=2)
    assert table_counts(db, ids, settings) == first
    # The dlq topic got each rejection on each run; consumers dedupe on the stable dead-letter id.
    # Ask for one more than expected: a 7th (a duplicate within a run) would show up here.
    letters = [orjson.loads(v) for v in consume_all(settings, DLQ.full_name(settings.kafka), 7, timeout_s=5)]
    assert len(letters) == 6
    assert len({letter["event_id"] for letter in letters}) == 3
