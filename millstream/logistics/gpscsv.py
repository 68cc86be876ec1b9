"""Historical GPS tracks from CSV, columns auto-detected by name.

Recognised (case-insensitive): vehicle — ``vehicle_id``, ``vehicle``, ``device_id``, ``device``, ``truck_id``,
``unit_id``, ``asset_id``, ``imei``, ``id`` (last resort); time — ``timestamp``, ``time``, ``datetime``,
``fixtime``, ``gps_time``, ``date_time``; ``latitude``/``lat``; ``longitude``/``lon``/``lng``/``long``; optional
``speed`` (km/h; ``speed_kmh``, ``speed_mps``, ``speed_knots`` converted), ``bearing``/``heading``/``course``,
and ``trip_id``/``trip`` (only to name trips). Timestamps are ISO 8601 (no offset = UTC) or Unix seconds or
milliseconds. A row that cannot be a fix is rejected with its line number and reason, never fatal.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from millstream.errors import DecodeError
from millstream.logistics.cleaning import check_position

__all__ = ["CsvColumns", "Fix", "Rejected", "detect_columns", "read_fixes"]

_CANDIDATES: dict[str, tuple[str, ...]] = {
    "vehicle": ("vehicle_id", "vehicleid", "vehicle", "device_id", "deviceid", "device", "truck_id", "truck",
                "unit_id", "asset_id", "imei", "id"),
    "time": ("timestamp", "time", "datetime", "date_time", "fixtime", "fix_time", "gps_time", "ts"),
    "lat": ("latitude", "lat"),
    "lon": ("longitude", "lon", "lng", "long"),
    "speed": ("speed_kmh", "speed_kph", "speed", "speed_mps", "speed_knots"),
    "bearing": ("bearing", "heading", "heading_deg", "course"),
    "trip": ("trip_id", "trip", "journey_id"),
}
_SPEED_FACTOR = {"speed_mps": 3.6, "speed_knots": 1.852}


@dataclass(frozen=True)
class CsvColumns:
    vehicle: str
    time: str
    lat: str
    lon: str
    speed: str | None = None
    bearing: str | None = None
    trip: str | None = None

    def describe(self) -> str:
        found = {k: v for k, v in vars(self).items() if v}
        return ", ".join(f"{k}={v}" for k, v in found.items())


@dataclass(frozen=True)
class Fix:
    vehicle: str
    at: datetime
    lon: float
    lat: float
    speed_kmh: float | None
    bearing: float | None
    trip: str | None
    line: int


@dataclass(frozen=True)
class Rejected:
    line: int
    reason: str


def detect_columns(header: list[str]) -> CsvColumns:
    """The columns to use; :class:`DecodeError` naming what is missing."""
    lowered = {h.strip().lower(): h for h in header}
    found: dict[str, str | None] = {}
    for role, names in _CANDIDATES.items():
        found[role] = next((lowered[n] for n in names if n in lowered), None)
    missing = [r for r in ("vehicle", "time", "lat", "lon") if found[r] is None]
    if missing:
        msg = (f"cannot find the {', '.join(missing)} column(s) among {', '.join(header)} "
               f"(accepted names: {'; '.join(r + ': ' + ', '.join(_CANDIDATES[r]) for r in missing)})")
        raise DecodeError(msg, "csv_columns")
    return CsvColumns(**found)  # type: ignore[arg-type]


def parse_time(text: str) -> datetime:
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not math.isfinite(number):
        msg = "timestamp is not finite"
        raise ValueError(msg)
    return datetime.fromtimestamp(number / 1000.0 if number > 1e11 else number, UTC)


def _optional(row: dict[str, str], column: str | None) -> float | None:
    if column is None or not (row.get(column) or "").strip():
        return None
    value = float(row[column])
    return value if math.isfinite(value) else None


def read_fixes(path: str | Path) -> tuple[CsvColumns, Iterator[Fix | Rejected]]:
    """The detected columns and, lazily, every row as a :class:`Fix` or a :class:`Rejected`."""
    path = Path(path)
    handle = path.open(newline="", encoding="utf-8-sig")
    reader = csv.DictReader(handle)
    if not reader.fieldnames:
        handle.close()
        msg = f"{path}: empty file, no header row"
        raise DecodeError(msg, "csv_columns")
    columns = detect_columns(list(reader.fieldnames))

    def rows() -> Iterator[Fix | Rejected]:
        with handle:
            for row in reader:
                line = reader.line_num
                try:
                    vehicle = (row.get(columns.vehicle) or "").strip()
                    if not vehicle:
                        yield Rejected(line, "no vehicle id")
                        continue
                    at = parse_time(row.get(columns.time) or "")
                    lat, lon = float(row.get(columns.lat) or "nan"), float(row.get(columns.lon) or "nan")
                    problem = check_position(lat, lon)
                    if problem:
                        yield Rejected(line, problem)
                        continue
                    speed = _optional(row, columns.speed)
                    if speed is not None and columns.speed in _SPEED_FACTOR:
                        speed *= _SPEED_FACTOR[columns.speed]
                    trip = (row.get(columns.trip) or "").strip() or None if columns.trip else None
                    yield Fix(vehicle, at, lon, lat, speed, _optional(row, columns.bearing), trip, line)
                except (ValueError, TypeError) as exc:
                    yield Rejected(line, f"unreadable value: {exc}")

    return columns, rows()
