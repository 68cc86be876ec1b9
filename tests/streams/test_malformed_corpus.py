"""The malformed-input corpus on the real broker and database: over a thousand malformed messages of every
class per raw topic, shuffled among good ones. `millstream ingest --once` exits 0, stores every good message,
dead-letters every bad one with a reason, and `dlq` and `dead_letters` hold the same letters."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import psycopg
import pytest

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import DLQ, FLEET_GPS, TELEMETRY_READINGS, TELEMETRY_STATUS, WAREHOUSE_RFID, Topic
from millstream.events.connectivity import EndpointStatus
from millstream.serde import encode
from millstream.settings import Settings
from simulators.hostile import BAD_CLASSES, TOPIC_CLASSES, bad_messages, good_events
from tests.helpers.kafka import consume_all, dlq_size
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

MILLSTREAM = str(Path(sys.executable).with_name("millstream"))
RAW: dict[Topic, str] = {TELEMETRY_READINGS: "sensor_readings", FLEET_GPS: "gps_pings",
                         WAREHOUSE_RFID: "rfid_reads", TELEMETRY_STATUS: "opcua_endpoint_status"}
BAD_PER_TOPIC = 1050
GOOD_PER_TOPIC = 150
REFUSED_BY_DATABASE = 10
MAX_MESSAGE_BYTES = 64 * 1024


def ingest_once(settings: Settings, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MILLSTREAM_DATABASE__URL": settings.database.url.get_secret_value(), "MILLSTREAM_DATA_DIR": str(data_dir),
           "MILLSTREAM_EVENTS__MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES)}
    return subprocess.run([MILLSTREAM, "ingest", "--once"], capture_output=True, text=True, env=env, timeout=300,
                          cwd=ROOT, check=False)


def test_ingest_survives_the_corpus_and_dead_letters_every_bad_message(
    settings: Settings, db: psycopg.Connection, tmp_path: Path
) -> None:
    prefix = settings.kafka.topic_prefix
    create_topics(settings.kafka, [*RAW, DLQ])
    rng = random.Random(8)
    good_ids: dict[Topic, list[str]] = {}
    bad_hashes: dict[Topic, Counter[str]] = {}
    # Statuses the edge accepts but the database refuses (event_id column is a uuid): dead letters of stage store.
    refused = [EndpointStatus.model_validate({**good_events("telemetry.status", 1, prefix + "X")[0].model_dump(),
                                              "endpoint": f"{prefix}refused{i}", "event_id": f"not-a-uuid-{i}"})
               for i in range(REFUSED_BY_DATABASE)]
    with EventProducer(settings.kafka) as producer:
        for topic in RAW:
            good = good_events(topic.name, GOOD_PER_TOPIC, prefix)
            bad = bad_messages(topic.name, BAD_PER_TOPIC, prefix)
            assert {name for name, _ in bad} == {*BAD_CLASSES, *TOPIC_CLASSES[topic.name]}
            good_ids[topic] = [e.id for e in good]
            bad_hashes[topic] = Counter(hashlib.sha256(raw or b"").hexdigest() for _, raw in bad)
            mixed: list[bytes | None] = [encode(e) for e in good] + [raw for _, raw in bad]
            if topic is TELEMETRY_STATUS:
                mixed += [encode(e) for e in refused]
            rng.shuffle(mixed)
            for i, raw in enumerate(mixed):
                producer.send_raw(topic, raw, key=str(i % 7).encode())
        assert producer.flush(60) == 0
    assert producer.failed == 0

    run = ingest_once(settings, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]

    for topic, table in RAW.items():
        stored = db.execute(f"SELECT count(*) AS n FROM {table} WHERE event_id::text = ANY(%s)",
                            ([str(i) if table != "opcua_endpoint_status" else _uuid(i) for i in good_ids[topic]],)
                            ).fetchone()["n"]
        assert stored == GOOD_PER_TOPIC, topic.name
        letters = db.execute("SELECT reason, error_type, payload_sha256 FROM dead_letters WHERE source_topic = %s",
                             (topic.full_name(settings.kafka),)).fetchall()
        assert Counter(row["payload_sha256"] for row in letters) == bad_hashes[topic], topic.name
        assert all(row["reason"] and row["error_type"] for row in letters)
    store_letters = db.execute("SELECT event_id, reason FROM dead_letters WHERE stage = 'store' AND payload LIKE %s",
                               (f"%{prefix}refused%",)).fetchall()
    assert len(store_letters) == REFUSED_BY_DATABASE
    assert all("uuid" in row["reason"] for row in store_letters)
    table_ids = {row["event_id"] for row in db.execute(
        "SELECT event_id FROM dead_letters WHERE source_topic = ANY(%s)",
        ([t.full_name(settings.kafka) for t in RAW],)).fetchall()} | {row["event_id"] for row in store_letters}
    db.rollback()

    expected = len(table_ids)
    assert expected == BAD_PER_TOPIC * len(RAW) + REFUSED_BY_DATABASE
    assert dlq_size(settings) == expected  # one letter per bad message, none twice
    dlq = [orjson.loads(v) for v in consume_all(settings, DLQ.full_name(settings.kafka), expected, timeout_s=60)]
    assert {letter["event_id"] for letter in dlq} == table_ids

    # A second run resumes after the end: no letter more.
    again = ingest_once(settings, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert dlq_size(settings) == expected


def _uuid(hex_id: str) -> str:
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"
