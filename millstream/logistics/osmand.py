"""The OsmAnd protocol as the Traccar Client app speaks it, parsed into a :class:`GpsPing` with reasons.

Two forms (as Traccar's own OsmAnd decoder reads them):

- query parameters (or a form body): ``id``, ``lat``, ``lon``, ``timestamp`` (Unix seconds or
  milliseconds, or ISO 8601), ``speed`` (knots), ``bearing`` (degrees), ``altitude`` (m), ``accuracy`` (m),
  ``batt`` (%); ``deviceid`` is accepted for ``id``;
- a JSON body: ``{"device_id": ..., "location": {"timestamp": ISO, "coords": {"latitude", "longitude",
  "speed" (m/s), "heading", "altitude", "accuracy"}, "battery": {"level": 0..1}}}``, or a flat JSON object
  with the query parameter names.

The device key may come as ``Authorization: Bearer <key>``, a ``key`` parameter, or — for trackers that can
only be given an identifier — as ``id=<device id>~<key>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from millstream.events import GpsPing, TimePolicy
from millstream.logistics.cleaning import check_position
from millstream.serde import format_validation_error

__all__ = ["KMH_PER_KNOT", "OsmandError", "OsmandFix", "parse_osmand", "to_ping"]

KMH_PER_KNOT = 1.852
_KMH_PER_MPS = 3.6


class OsmandError(ValueError):
    """A request that is no usable fix; ``str()`` is the reason returned to the tracker."""


@dataclass(frozen=True)
class OsmandFix:
    device_id: str
    key: str | None
    lat: float
    lon: float
    timestamp: datetime | None
    speed_kmh: float | None
    bearing: float | None
    altitude: float | None
    accuracy: float | None
    battery_pct: float | None


def _number(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        msg = f"{name} must be a number, got {str(value)[:40]!r}"
        raise OsmandError(msg) from None
    if not math.isfinite(number):
        msg = f"{name} must be a finite number"
        raise OsmandError(msg)
    return number


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            msg = f"timestamp {text[:40]!r} is neither Unix time nor ISO 8601"
            raise OsmandError(msg) from None
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    if not math.isfinite(number) or number < 0:
        msg = "timestamp must be a non-negative Unix time"
        raise OsmandError(msg)
    try:
        return datetime.fromtimestamp(number / 1000.0 if number > 1e11 else number, UTC)
    except (OverflowError, OSError, ValueError):
        msg = f"timestamp {text[:40]!r} is out of range"
        raise OsmandError(msg) from None


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    location = values.get("location")
    if not isinstance(location, dict):
        return values
    coords: dict[str, Any] = location["coords"] if isinstance(location.get("coords"), dict) else {}
    battery: dict[str, Any] = location["battery"] if isinstance(location.get("battery"), dict) else {}
    speed = _number(coords.get("speed"), "speed")
    level = _number(battery.get("level"), "battery level")
    return {"id": values.get("device_id") or values.get("id"), "key": values.get("key"),
            "lat": coords.get("latitude"), "lon": coords.get("longitude"), "timestamp": location.get("timestamp"),
            "speed_kmh": None if speed is None or speed < 0 else speed * _KMH_PER_MPS,
            "bearing": coords.get("heading"), "altitude": coords.get("altitude"),
            "accuracy": coords.get("accuracy"), "batt": None if level is None or level < 0 else level * 100.0}


def parse_osmand(values: dict[str, Any], bearer: str | None = None) -> OsmandFix:
    """A fix from query/form/JSON ``values`` (see the module docstring); :class:`OsmandError` says why not."""
    values = _flat(values)
    raw_id = str(values.get("id") or values.get("deviceid") or "").strip()
    if not raw_id:
        msg = "id (the device identifier) is required"
        raise OsmandError(msg)
    device_id, _, id_key = raw_id.partition("~")
    key = bearer or (str(values["key"]) if values.get("key") else None) or id_key or None
    lat, lon = _number(values.get("lat"), "lat"), _number(values.get("lon"), "lon")
    if lat is None or lon is None:
        msg = "lat and lon are required"
        raise OsmandError(msg)
    problem = check_position(lat, lon)
    if problem:
        raise OsmandError(problem)
    speed = values.get("speed_kmh")
    if speed is None:
        knots = _number(values.get("speed"), "speed")
        speed = None if knots is None else knots * KMH_PER_KNOT
    bearing = _number(values.get("bearing") if values.get("bearing") is not None else values.get("heading"),
                      "bearing")
    return OsmandFix(device_id, key, lat, lon, _time(values.get("timestamp")), speed,
                     None if bearing is None or bearing < 0 else bearing % 360.0, _number(values.get("altitude"),
                                                                                           "altitude"),
                     _number(values.get("accuracy"), "accuracy"), _number(values.get("batt"), "batt"))


def to_ping(fix: OsmandFix, truck_id: str, received_at: datetime, policy: TimePolicy) -> GpsPing:
    """The fix as the truck's :class:`GpsPing` (time of receipt when the tracker sent none), its time checked
    against ``received_at`` (the process clock's now, simulated under ``millstream up --speed``)."""
    data = {"truck_id": truck_id, "lat": fix.lat, "lon": fix.lon, "timestamp": fix.timestamp or received_at,
            "speed_kmh": max(0.0, fix.speed_kmh or 0.0), "heading_deg": fix.bearing, "altitude_m": fix.altitude,
            "accuracy_m": None if fix.accuracy is None or fix.accuracy < 0 else fix.accuracy,
            "battery_pct": fix.battery_pct}
    try:
        return GpsPing.model_validate(data, context={"time_policy": policy, "now": received_at})
    except ValidationError as exc:
        raise OsmandError(format_validation_error(exc)) from None
