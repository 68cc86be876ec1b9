"""Typed events: valid events round-trip, each class of invalid input is rejected with its reason."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from millstream.errors import DecodeError
from millstream.events import DeadLetter, GpsPing, RfidRead, SensorReading, TimePolicy, quality_of
from millstream.serde import decode, encode

NOW = datetime.now(UTC)
recent = st.datetimes(min_value=(NOW - timedelta(days=20)).replace(tzinfo=None),
                      max_value=(NOW + timedelta(seconds=60)).replace(tzinfo=None),
                      timezones=st.just(UTC))
ids = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="-_."),
              min_size=1, max_size=20).filter(lambda s: s.strip() == s)
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9)


@given(ids, ids, finite, recent, st.sampled_from([0, 0x40000000, 0x80000000]))
def test_sensor_reading_round_trips(machine: str, tag: str, value: float, ts: datetime, status: int) -> None:
    reading = SensorReading(machine_id=machine, tag=tag, value=value, status_code=status, source_timestamp=ts)
    assert reading.quality == quality_of(status)
    assert decode(encode(reading), SensorReading) == reading


@given(ids, st.floats(-90, 90), st.floats(-180, 180), st.floats(0, 400), recent)
def test_gps_ping_round_trips(truck: str, lat: float, lon: float, speed: float, ts: datetime) -> None:
    ping = GpsPing(truck_id=truck, lat=lat, lon=lon, speed_kmh=speed, timestamp=ts)
    assert decode(encode(ping), GpsPing) == ping


@given(ids, st.integers(0, 8), st.text("0123456789abcdef", min_size=24, max_size=24), recent)
def test_rfid_read_round_trips_and_normalises_epc(reader: str, antenna: int, epc: str, ts: datetime) -> None:
    read = RfidRead(reader_id=reader, antenna=antenna, epc=epc, timestamp=ts)
    assert read.epc == epc.upper()
    assert decode(encode(read), RfidRead) == read


def test_ids_are_stable_across_replays_and_differ_by_identity() -> None:
    ts = NOW - timedelta(minutes=1)
    a = SensorReading(machine_id="M1", tag="temp", value=1.0, source_timestamp=ts)
    again = SensorReading.model_validate_json(a.model_dump_json(exclude={"event_id"}))
    other = SensorReading(machine_id="M1", tag="temp", value=1.0, source_timestamp=ts + timedelta(seconds=1))
    assert a.event_id == again.event_id
    assert a.event_id != other.event_id
    local = ts.astimezone(timezone(timedelta(hours=2)))
    assert SensorReading(machine_id="M1", tag="temp", value=1.0, source_timestamp=local).event_id == a.event_id


def ping(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {"truck_id": "TRK-01", "lat": 53.4, "lon": -2.99,
                               "timestamp": (NOW - timedelta(minutes=1)).isoformat()}
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"lat": 91.0}, "lat: Input should be less than or equal to 90"),
        ({"lon": -180.5}, "lon: Input should be greater than or equal to -180"),
        ({"speed_kmh": -1}, "speed_kmh: Input should be greater than or equal to 0"),
        ({"timestamp": "2026-01-01T00:00:00"}, "timestamp: Value error, timestamp must be timezone-aware"),
        ({"timestamp": (NOW + timedelta(hours=1)).isoformat()}, "in the future (allowed skew 300 s)"),
        ({"timestamp": (NOW - timedelta(days=40)).isoformat()}, "older than retention (30 days)"),
        ({"truck_id": ""}, "truck_id: String should have at least 1 character"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_pings_are_rejected_with_their_reason(overrides: dict[str, object], reason: str) -> None:
    import orjson

    with pytest.raises(DecodeError) as exc:
        decode(orjson.dumps(ping(**overrides)), GpsPing)
    assert exc.value.error_type == "validation"
    assert reason.replace("Value error, ", "") in exc.value.reason


def test_non_finite_numbers_are_rejected() -> None:
    with pytest.raises(ValidationError, match="finite number"):
        SensorReading(machine_id="M1", tag="t", value=math.nan, source_timestamp=NOW)
    with pytest.raises(ValidationError, match="finite number"):
        GpsPing(truck_id="T", lat=math.inf, lon=0, timestamp=NOW)


def test_malformed_and_non_object_payloads() -> None:
    with pytest.raises(DecodeError) as exc:
        decode(b"{not json", GpsPing)
    assert exc.value.error_type == "malformed_json"
    with pytest.raises(DecodeError) as exc:
        decode(b"[1, 2]", GpsPing)
    assert exc.value.error_type == "not_an_object"
    with pytest.raises(DecodeError) as exc:
        decode(None, GpsPing)
    assert exc.value.error_type == "malformed_json"


def test_quality_must_agree_with_status_code() -> None:
    with pytest.raises(ValidationError, match="contradicts status_code"):
        SensorReading(machine_id="M", tag="t", value=1, status_code=0x80000000, quality="good", source_timestamp=NOW)
    bad = SensorReading(machine_id="M", tag="t", value=None, status_code=0x808A0000, source_timestamp=NOW)
    assert bad.quality == "bad"
    with pytest.raises(ValidationError, match="good reading must carry a value"):
        SensorReading(machine_id="M", tag="t", value=None, source_timestamp=NOW)


def test_rfid_epc_must_be_hex_of_whole_words() -> None:
    with pytest.raises(ValidationError, match="EPC must be hex"):
        RfidRead(reader_id="R", antenna=1, epc="XYZ", timestamp=NOW)
    with pytest.raises(ValidationError, match="EPC must be hex"):
        RfidRead(reader_id="R", antenna=1, epc="30742", timestamp=NOW)


def test_time_policy_is_configurable_and_can_be_turned_off() -> None:
    old = ping(timestamp=(NOW - timedelta(days=40)).isoformat())
    relaxed = TimePolicy(max_age=timedelta(days=60))
    assert GpsPing.model_validate(old, context={"time_policy": relaxed}).lat == 53.4
    assert GpsPing.model_validate(old, context={"time_policy": None}).lat == 53.4


def test_dead_letter_keeps_raw_bytes_and_position_id() -> None:
    raw = b"\xff\xfe not utf-8"
    letter = DeadLetter.of(raw, stage="s", reason="r", error_type="t", topic="fleet.gps", partition=1, offset=7)
    assert letter.payload_encoding == "base64"
    assert letter.raw_bytes() == raw
    replay = DeadLetter.of(raw, stage="s", reason="r", error_type="t", topic="fleet.gps", partition=1, offset=7)
    assert replay.event_id == letter.event_id
    assert decode(encode(letter), DeadLetter, time_policy=None) == letter
