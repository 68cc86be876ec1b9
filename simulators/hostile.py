"""A corpus of malformed messages for each raw topic, every class a hostile or broken producer sends, and
good messages to interleave with them (for the corpus test of `millstream ingest`).

Every generator takes an index (so payloads differ) and returns the raw value (``None`` = no value).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from millstream.events import Event, GpsPing, RfidRead, SensorReading
from millstream.events.connectivity import EndpointStatus
from millstream.serde import encode

__all__ = ["BAD_CLASSES", "bad_messages", "good_events"]

Raw = bytes | None
NOW = datetime.now(UTC).replace(microsecond=0)


def _dumps(doc: dict[str, Any]) -> bytes:
    """JSON as any producer may write it (integers of any size)."""
    return json.dumps(doc, separators=(",", ":")).encode()


def _iso(at: datetime) -> str:
    return at.isoformat()


def _seed(topic: str, i: int, prefix: str) -> dict[str, Any]:
    at = _iso(NOW - timedelta(seconds=i + 1))
    if topic == "telemetry.readings":
        return {"machine_id": f"{prefix}M{i}", "tag": "temp", "value": 20.5, "unit": "C", "source_timestamp": at}
    if topic == "fleet.gps":
        return {"truck_id": f"{prefix}T{i}", "lat": 53.4, "lon": -2.99, "speed_kmh": 40, "timestamp": at}
    if topic == "warehouse.rfid":
        return {"reader_id": f"{prefix}R{i}", "antenna": 1, "epc": "3074257BF7194E4000001A85", "timestamp": at}
    return {"endpoint": f"{prefix}E{i}", "url": "opc.tcp://127.0.0.1:4840", "state": "offline", "since": at,
            "attempts": 1, "reason": "socket closed"}


_TIME_FIELD = {"telemetry.readings": "source_timestamp", "fleet.gps": "timestamp", "warehouse.rfid": "timestamp",
               "telemetry.status": "since"}
_TEXT_FIELD = {"telemetry.readings": "machine_id", "fleet.gps": "truck_id", "warehouse.rfid": "reader_id",
               "telemetry.status": "endpoint"}
_NUMBER_FIELD = {"telemetry.readings": "status_code", "fleet.gps": "lat", "warehouse.rfid": "antenna",
                 "telemetry.status": "attempts"}


def _with(topic: str, i: int, prefix: str, **changes: Any) -> bytes:
    doc = _seed(topic, i, prefix)
    doc.update(changes)
    return _dumps(doc)


def _token(topic: str, i: int, prefix: str, token: str) -> bytes:
    """A document whose number field is a raw JSON token (NaN, Infinity, 1e400) orjson would not write."""
    doc = _seed(topic, i, prefix)
    doc[_NUMBER_FIELD[topic]] = "@@"
    return _dumps(doc).replace(b'"@@"', token.encode())


def _time(topic: str, i: int, prefix: str, value: str) -> bytes:
    return _with(topic, i, prefix, **{_TIME_FIELD[topic]: value})


def _text(topic: str, i: int, prefix: str, value: str) -> bytes:
    doc = _seed(topic, i, prefix)
    doc[_TEXT_FIELD[topic]] = "@@"
    return _dumps(doc).replace(b'"@@"', b'"' + value.encode() + b'"')


def _missing(topic: str, i: int, prefix: str) -> bytes:
    doc = _seed(topic, i, prefix)
    del doc[[_TIME_FIELD[topic], _TEXT_FIELD[topic]][i % 2]]
    return _dumps(doc)


Generator = Callable[[str, int, str], Raw]

#: Malformed-message classes, each for every raw topic.
BAD_CLASSES: dict[str, Generator] = {
    "bad_json": lambda t, i, p: _with(t, i, p)[: -(i % 7 + 1)],
    "garbage": lambda t, i, p: f"not json {i} {p}".encode(),
    "not_an_object": lambda t, i, p: [b"[1, 2, 3]", b'"a string"', b"42", b"true", b"3.5"][i % 5] + b" " * (i % 3),
    "json_null": lambda t, i, p: b"null" + b" " * i,
    "empty": lambda t, i, p: b"",
    "no_value": lambda t, i, p: None,
    "wrong_types": lambda t, i, p: _with(t, i, p, **{_NUMBER_FIELD[t]: [["x"], {"a": 1}, "eleven", "12abc"][i % 4]}),
    "missing_fields": _missing,
    "extra_field": lambda t, i, p: _with(t, i, p, colour=f"red{i}"),
    "nan_inf": lambda t, i, p: _token(t, i, p, ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"][i % 5]),
    "far_future": lambda t, i, p: _time(t, i, p, _iso(NOW + timedelta(days=1 + i % 3650))),
    "ancient": lambda t, i, p: _time(t, i, p, _iso(NOW - timedelta(days=40 + i % 20000))),
    "overflow_offset": lambda t, i, p: _time(t, i, p, ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                                                        "0001-01-01T00:30:00+00:45"][i % 3]),
    "out_of_calendar": lambda t, i, p: _time(t, i, p, ["1969-07-20T20:17:00Z", "2262-04-12T00:00:00Z",
                                                        "10000-01-01T00:00:00Z", "2026-02-30T00:00:00Z"][i % 4]),
    "naive_time": lambda t, i, p: _time(t, i, p, (NOW - timedelta(seconds=i)).replace(tzinfo=None).isoformat()),
    "non_utf8": lambda t, i, p: b'{"' + _TEXT_FIELD[t].encode() + b'": "\xff\xfe' + str(i).encode() + b'"}',
    "random_bytes": lambda t, i, p: random.Random(f"{t}{i}").randbytes(1 + i % 200),
    "nul_escape": lambda t, i, p: _text(t, i, p, f"X\\u0000{i}"),
    "nul_byte": lambda t, i, p: _with(t, i, p) + b"\x00",
    "lone_surrogate": lambda t, i, p: _text(t, i, p, f"X\\ud800{i}"),
    "too_long_text": lambda t, i, p: _with(t, i, p, **{_TEXT_FIELD[t]: "x" * (600 + i)}),
    "deep_nesting": lambda t, i, p: b"[" * (2000 + i) + b"]" * (2000 + i),
    "oversize": lambda t, i, p: _with(t, i, p, filler="y" * (70_000 + i)),
}

#: Topic-specific classes: values out of range for that kind of event.
TOPIC_CLASSES: dict[str, dict[str, Generator]] = {
    "fleet.gps": {
        "lat_out_of_range": lambda t, i, p: _with(t, i, p, lat=[90.0001, -91, 1e9][i % 3]),
        "lon_out_of_range": lambda t, i, p: _with(t, i, p, lon=[180.5, -181, 720][i % 3]),
        "speed_out_of_range": lambda t, i, p: _with(t, i, p, speed_kmh=[-1, 401, 1e300][i % 3]),
    },
    "warehouse.rfid": {
        "epc_not_hex": lambda t, i, p: _with(t, i, p, epc=f"ZZ{i:022d}"),
        "epc_odd_length": lambda t, i, p: _with(t, i, p, epc="3074257BF7194E4000001A85"[: [23, 22, 21, 19, 18][i % 5]]),
        "epc_too_long": lambda t, i, p: _with(t, i, p, epc="AB" * (64 + i % 10)),
        "antenna_out_of_range": lambda t, i, p: _with(t, i, p, antenna=[-1, 65, 2**40][i % 3]),
    },
    "telemetry.readings": {
        "status_out_of_range": lambda t, i, p: _with(t, i, p, status_code=[-1, 2**32, 2**70][i % 3]),
        "quality_contradicts": lambda t, i, p: _with(t, i, p, quality="bad"),
        "good_without_value": lambda t, i, p: _with(t, i, p, value=None),
    },
    "telemetry.status": {
        "unknown_state": lambda t, i, p: _with(t, i, p, state=["maybe", "", "ONLINE"][i % 3]),
        "gap_reversed": lambda t, i, p: _with(t, i, p, offline_since=_iso(NOW + timedelta(minutes=1))),
        "attempts_out_of_range": lambda t, i, p: _with(t, i, p, attempts=[-1, 2**31, 2**62][i % 3]),
    },
}


def bad_messages(topic: str, n: int, prefix: str) -> list[tuple[str, Raw]]:
    """``n`` malformed messages for ``topic``, cycling through every class: ``(class, value)``."""
    classes = {**BAD_CLASSES, **TOPIC_CLASSES[topic]}
    names = list(classes)
    return [(names[i % len(names)], classes[names[i % len(names)]](topic, i, prefix)) for i in range(n)]


def good_events(topic: str, n: int, prefix: str) -> list[Event]:
    """``n`` valid, distinct events for ``topic``."""
    models: dict[str, type[Event]] = {"telemetry.readings": SensorReading, "fleet.gps": GpsPing,
                                      "warehouse.rfid": RfidRead, "telemetry.status": EndpointStatus}
    model = models[topic]
    return [model.model_validate(_seed(topic, i, prefix)) for i in range(n)]


def encoded(events: list[Event]) -> list[bytes]:
    return [encode(e) for e in events]
