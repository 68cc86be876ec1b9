"""The edge never raises on content: any bytes, any JSON, any record timestamp become an event or a dead
letter that fits the dlq topic and the dead_letters table; and the verdict depends on the record only."""

from __future__ import annotations

import importlib
import json
import pkgutil
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from connectors.kafka.producer import timestamp_ms
from connectors.kafka.topics import DLQ_MAX_MESSAGE_BYTES, TOPICS
from millstream import events as events_package
from millstream.errors import DecodeError
from millstream.events import DeadLetter, Event, GpsPing, ReaderHeartbeat, RfidRead, SensorReading, TimePolicy
from millstream.events.alerts import Alert
from millstream.events.base import storable_text
from millstream.events.connectivity import EndpointStatus
from millstream.events.erp import ErpRecord
from millstream.events.maintenance import MaintenanceScore
from millstream.events.outputs import OutputEvent
from millstream.serde import decode, encode
from streams.edge import admit

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = TimePolicy()
LIMIT = 4096

#: A valid document of every event type; the property tests mutate them.
SEEDS: dict[type[BaseModel], dict[str, Any]] = {
    SensorReading: {"machine_id": "CNC-01", "tag": "spindle_speed", "value": 1200.5, "unit": "rpm",
                    "source_timestamp": "2026-06-01T11:59:00Z"},
    GpsPing: {"truck_id": "TRK-01", "lat": 53.4, "lon": -2.99, "speed_kmh": 50, "timestamp": "2026-06-01T11:59:00Z"},
    RfidRead: {"reader_id": "RDR-1", "antenna": 1, "epc": "3074257BF7194E4000001A85", "rssi_dbm": -60,
               "timestamp": "2026-06-01T11:59:00Z"},
    ReaderHeartbeat: {"reader_id": "RDR-1", "heartbeat": True, "timestamp": "2026-06-01T11:59:00Z"},
    EndpointStatus: {"endpoint": "plant", "url": "opc.tcp://127.0.0.1:4840", "state": "online",
                     "since": "2026-06-01T11:59:00Z", "offline_since": "2026-06-01T11:58:00Z", "attempts": 3},
    DeadLetter: {"stage": "s", "reason": "r", "error_type": "e", "payload": "x", "failed_at": "2026-06-01T11:59:00Z"},
    Alert: {"subject_kind": "machine", "subject_id": "CNC-01", "alert_type": "maintenance.test", "domain":
            "maintenance", "severity": "major", "opened_at": "2026-06-01T11:59:00Z",
            "occurred_at": "2026-06-01T11:59:00Z", "evidence": {"value": 97.5}},
    MaintenanceScore: {"machine_id": "CNC-01", "at": "2026-06-01T11:59:00Z", "model_id": "m1", "health": 90,
                       "rul": 100, "rul_low": 80, "rul_high": 120, "rul_unit": "h", "horizon": 24, "p_fail": 0.1,
                       "anomaly": 0.5, "confidence": "high", "valid_share": 1.0},
    ErpRecord: {"subject_kind": "shipment", "subject_id": "S1", "occurred_at": "2026-06-01T11:59:00Z",
                "record_type": "shipment.eta_update", "record_key": "S1", "erp_keys": {"shipment_number": "S1"},
                "payload": {"minute": 1}},
}


def _event_types(base: type = Event) -> set[type]:
    """Every subclass of ``base``, with every module of ``millstream.events`` imported first."""
    for module in pkgutil.iter_modules(events_package.__path__):
        importlib.import_module(f"{events_package.__name__}.{module.name}")
    found = set()
    for sub in base.__subclasses__():
        found |= {sub, *_event_types(sub)}
    return found


def test_every_event_type_has_a_seed() -> None:
    """The property tests below cover every event type of ``millstream.events`` (abstract bases aside) and
    every type a topic carries."""
    declared = {t for t in _event_types() if t.__module__.startswith(events_package.__name__ + ".")}
    assert declared - {OutputEvent} <= set(SEEDS)
    assert {t.event_type for t in TOPICS} <= set(SEEDS)
    for model, seed in SEEDS.items():
        assert isinstance(model.model_validate(seed, context={"time_policy": POLICY, "now": NOW}), model)


def message(value: bytes | None, ts: tuple[int, int] = (TIMESTAMP_CREATE_TIME, timestamp_ms(NOW)), offset: int = 7,
            key: bytes | None = b"k") -> KafkaSourceMessage[bytes | None, bytes | None]:
    return KafkaSourceMessage(key=key, value=value, topic="raw", partition=0, offset=offset, timestamp=ts)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def assert_fits(result: Any, model: type[BaseModel], raw: bytes | None) -> None:
    """An event of ``model`` or a dead letter; either encodes, and a dead letter fits dlq and the table."""
    if isinstance(result, DeadLetter) and result.stage == "edge" and result.source_topic == "raw":
        letter = result
        document = encode(letter)
        assert len(document) < DLQ_MAX_MESSAGE_BYTES
        assert all(storable_text(s) is None for s in _strings(orjson.loads(document)))
        assert letter.reason and letter.error_type and letter.source_offset == 7
        assert letter.payload_size == len(raw or b"")
        if not letter.payload_truncated:
            assert letter.raw_bytes() == (raw or b"")
        else:
            assert (raw or b"").startswith(letter.raw_bytes())
        return
    assert isinstance(result, model)
    assert all(storable_text(s) is None for s in _strings(orjson.loads(encode(result))))


MODELS = st.sampled_from(sorted(SEEDS, key=lambda m: m.__name__))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text()
    | st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z",
                       "2262-04-12T00:00:00Z", "2026-06-01T11:59:00", "T\x00X", "\ud800", "NaN", "1e400"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
timestamps = st.one_of(
    st.just((TIMESTAMP_CREATE_TIME, timestamp_ms(NOW))), st.just((TIMESTAMP_NOT_AVAILABLE, -1)),
    st.tuples(st.sampled_from([TIMESTAMP_CREATE_TIME, 2]), st.integers(-(2**63), 2**63 - 1)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MODELS, st.binary(max_size=LIMIT * 2), timestamps)
def test_arbitrary_bytes_become_an_event_or_a_dead_letter(model: type[BaseModel], raw: bytes,
                                                          ts: tuple[int, int]) -> None:
    result = admit(message(raw, ts), model, stage="edge", policy=POLICY, max_bytes=LIMIT)
    assert_fits(result, model, raw)


def _dumps(value: Any) -> bytes:
    """JSON as a hostile producer writes it: NaN and Infinity tokens, lone surrogates as escapes."""
    return json.dumps(value, allow_nan=True).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MODELS, st.data())
def test_arbitrary_json_fields_become_an_event_or_a_dead_letter(model: type[BaseModel], data: st.DataObject) -> None:
    document = dict(SEEDS[model])
    for _ in range(data.draw(st.integers(1, 3))):
        field = data.draw(st.sampled_from([*document, "extra"]))
        if data.draw(st.booleans()) and field in document:
            del document[field]
        else:
            document[field] = data.draw(json_values)
    raw = orjson.dumps(document) if _encodable(document) and data.draw(st.booleans()) else _dumps(document)
    result = admit(message(raw), model, stage="edge", policy=POLICY, max_bytes=LIMIT)
    assert_fits(result, model, raw)
    try:  # the serde itself raises nothing but DecodeError on content
        decode(raw, model, time_policy=POLICY, now=NOW)
    except DecodeError:
        pass


def _encodable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return False
    return True


@settings(max_examples=100, deadline=None)
@given(MODELS, json_values)
def test_arbitrary_json_documents_become_an_event_or_a_dead_letter(model: type[BaseModel], value: Any) -> None:
    raw = _dumps(value)
    assert_fits(admit(message(raw), model, stage="edge", policy=POLICY, max_bytes=LIMIT), model, raw)


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"truck_id":"T1","lat":1,"lon":2,"timestamp":"0001-01-01T00:00:00+01:00"}', "timestamp: out of range"),
    (b'{"truck_id":"T1","lat":1,"lon":2,"timestamp":"9999-12-31T23:59:59-01:00"}', "timestamp: out of range"),
    (b'{"truck_id":"T1","lat":1,"lon":2,"timestamp":"2300-01-01T00:00:00Z"}', "timestamp: out of range"),
    (b'{"truck_id":"T\\u0000X","lat":1,"lon":2,"timestamp":"2026-06-01T11:59:00Z"}', "truck_id: contains a NUL"),
    (b'{"truck_id":"T1","lat":NaN,"lon":2,"timestamp":"2026-06-01T11:59:00Z"}', "malformed JSON"),
    (b'{"truck_id":"\\ud800","lat":1,"lon":2,"timestamp":"2026-06-01T11:59:00Z"}', "malformed JSON"),
    (b"[" * 100_000, "malformed JSON"),
    (b"", "malformed JSON"),
    (None, "empty message"),
    (b"null", "got NoneType"),
])
def test_reported_poison_messages_are_dead_letters_with_reasons(raw: bytes | None, reason: str) -> None:
    letter = admit(message(raw), GpsPing, stage="edge", policy=POLICY, max_bytes=512 * 1024)
    assert isinstance(letter, DeadLetter)
    assert reason in letter.reason


def test_an_oversized_message_keeps_size_hash_and_an_excerpt() -> None:
    raw = orjson.dumps({"truck_id": "T" * 2_000_000})
    letter = admit(message(raw), GpsPing, stage="edge", policy=POLICY, max_bytes=256 * 1024)
    assert isinstance(letter, DeadLetter)
    assert letter.error_type == "oversize"
    assert f"message of {len(raw)} bytes exceeds the limit of {256 * 1024} bytes" in letter.reason
    assert letter.payload_truncated and letter.payload_size == len(raw)
    assert raw.startswith(letter.raw_bytes()) and len(letter.raw_bytes()) == 1024
    assert len(encode(letter)) < 4096


def test_a_nul_payload_is_kept_whole_in_base64() -> None:
    raw = b'{"truck_id": "T1\x00", "lat": 1}'
    letter = admit(message(raw), GpsPing, stage="edge", policy=POLICY, max_bytes=LIMIT)
    assert isinstance(letter, DeadLetter)
    assert letter.payload_encoding == "base64" and letter.raw_bytes() == raw


# Replay-stable validation: the time check measures against the record's timestamp, not the wall clock.

def ping_at(at: datetime) -> bytes:
    return orjson.dumps({"truck_id": "T1", "lat": 1.0, "lon": 2.0, "timestamp": at.isoformat()})


def test_time_check_is_against_the_record_timestamp_not_the_wall_clock() -> None:
    """A simulated world years ahead of the wall clock (--speed > 1) is accepted when its records are stamped
    with its own clock; an event ahead of its own record's time by more than the skew is not."""
    simulated_now = datetime.now(UTC) + timedelta(days=400)
    stamped = (TIMESTAMP_CREATE_TIME, timestamp_ms(simulated_now))
    ok = admit(message(ping_at(simulated_now - timedelta(seconds=1)), stamped), GpsPing, stage="edge",
               policy=POLICY, max_bytes=LIMIT)
    assert isinstance(ok, GpsPing)
    ahead = admit(message(ping_at(simulated_now + timedelta(minutes=10)), stamped), GpsPing, stage="edge",
                  policy=POLICY, max_bytes=LIMIT)
    assert isinstance(ahead, DeadLetter)
    assert "timestamp is 600 s in the future (allowed skew 300 s)" in ahead.reason
    old = admit(message(ping_at(simulated_now - timedelta(days=31)), stamped), GpsPing, stage="edge",
                policy=POLICY, max_bytes=LIMIT)
    assert isinstance(old, DeadLetter) and "older than retention" in old.reason


def test_the_same_record_gets_the_same_verdict_whenever_it_is_processed() -> None:
    """An event from 2020 stamped 2020 is fine today and in ten years; stamped today it is too old."""
    then = datetime(2020, 3, 1, tzinfo=UTC)
    record = message(ping_at(then), (TIMESTAMP_CREATE_TIME, timestamp_ms(then + timedelta(seconds=2))))
    first = admit(record, GpsPing, stage="edge", policy=POLICY, max_bytes=LIMIT)
    again = admit(record, GpsPing, stage="edge", policy=POLICY, max_bytes=LIMIT)
    assert isinstance(first, GpsPing) and first == again
    late = message(ping_at(then), (TIMESTAMP_CREATE_TIME, timestamp_ms(datetime.now(UTC))))
    letters = [admit(late, GpsPing, stage="edge", policy=POLICY, max_bytes=LIMIT) for _ in range(2)]
    assert all(isinstance(letter, DeadLetter) for letter in letters)
    assert letters[0].id == letters[1].id and letters[0].reason == letters[1].reason


def test_a_record_timestamp_outside_any_calendar_is_a_dead_letter() -> None:
    letter = admit(message(ping_at(NOW), (TIMESTAMP_CREATE_TIME, 2**62)), GpsPing, stage="edge", policy=POLICY,
                   max_bytes=LIMIT)
    assert isinstance(letter, DeadLetter) and "record timestamp" in letter.reason
