"""A Bytewax flow on a real Kafka topic: good messages out as events, bad ones to `dlq` with reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, cluster_main, run_main

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import DLQ, TELEMETRY_READINGS
from millstream.events import DeadLetter, SensorReading
from millstream.metrics import DEAD_LETTERS
from millstream.serde import decode
from millstream.settings import Settings
from streams.kafka_io import read_events, write_dead_letters
from tests.helpers.kafka import consume_all

NOW = datetime.now(UTC)


def good_readings(n: int) -> list[SensorReading]:
    return [SensorReading(machine_id=f"M{i % 3}", tag="vibration_rms", value=1.0 + i, unit="mm/s",
                          source_timestamp=NOW - timedelta(seconds=n - i)) for i in range(n)]


BAD: dict[bytes | None, str] = {
    b"{this is not json": "malformed_json",
    b'"just a string"': "not_an_object",
    orjson.dumps({"machine_id": "M1", "tag": "t", "value": 1, "source_timestamp": "2026-01-01T00:00:00"}):
        "validation",  # naive timestamp
    orjson.dumps({"machine_id": "M1", "tag": "t", "value": 1,
                  "source_timestamp": (NOW + timedelta(days=2)).isoformat()}): "validation",  # future
    orjson.dumps({"machine_id": "M1", "tag": "t", "value": 1, "source_timestamp": NOW.isoformat(),
                  "colour": "red"}): "validation",  # unknown field
    None: "malformed_json",  # tombstone / empty value
}


def dead_letter_count() -> float:
    return sum(sample.value for metric in DEAD_LETTERS.collect() for sample in metric.samples
               if sample.name.endswith("_total"))


@pytest.mark.parametrize("mode", ["run_main", "cluster_main_2_workers"])
def test_flow_splits_good_events_from_dead_letters(settings: Settings, mode: str) -> None:
    create_topics(settings.kafka, [TELEMETRY_READINGS, DLQ])
    readings = good_readings(30)
    with EventProducer(settings.kafka) as producer:
        for i, reading in enumerate(readings):
            producer.send(TELEMETRY_READINGS, reading)
            if i % 5 == 0:
                raw = list(BAD)[(i // 5) % len(BAD)]
                producer.send_raw(TELEMETRY_READINGS, raw, key=b"M1")
    bad_sent = len(range(0, 30, 5))

    received: list[SensorReading] = []
    flow = Dataflow("test_edge")
    checked = read_events("readings", flow, TELEMETRY_READINGS, settings, tail=False)
    op.output("out", checked.oks, TestingSink(received))
    write_dead_letters("dead_letters", checked.errs, settings)
    before = dead_letter_count()
    if mode == "run_main":
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=2)

    assert sorted(r.event_id for r in received) == sorted(r.event_id for r in readings)
    raw_letters = consume_all(settings, DLQ.full_name(settings.kafka), bad_sent)
    letters = [decode(v, DeadLetter, time_policy=None) for v in raw_letters]
    assert len(letters) == bad_sent
    assert dead_letter_count() - before == bad_sent
    for letter in letters:
        assert letter.stage == "test_edge.readings"  # the qualified step id
        assert letter.source_topic == TELEMETRY_READINGS.full_name(settings.kafka)
        assert letter.source_offset is not None and letter.source_partition is not None
        assert letter.error_type == BAD[letter.raw_bytes() or None]
        assert letter.reason
    reasons = " | ".join(letter.reason for letter in letters)
    assert "timezone-aware" in reasons
    assert "in the future" in reasons
    assert "colour: Extra inputs are not permitted" in reasons
