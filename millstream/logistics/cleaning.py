"""Cleaning a truck's pings before they move it: range/NaN checks, impossible jumps, event-time order.

- :func:`check_position` refuses coordinates that are not finite or out of range (with the reason);
- :class:`PingCleaner` keeps per truck a small reorder buffer in event time: pings are released in timestamp
  order once the truck's watermark (its latest timestamp minus ``allowed_lateness``) has passed them; a ping
  older than what was already released is *late*: it is kept for the track but does not move the truck;
- a ping whose implied speed from the last accepted position exceeds ``max_speed_kmh`` is an *outlier*: kept
  for the record, it does not move the truck. Should ``confirm_jump`` pings in a row agree with each other
  but not with the old position, the truck really is elsewhere (e.g. after a GPS cold start) and they are
  accepted.

The state is plain data, one :class:`TruckPings` per truck, so a dataflow can keep and snapshot it.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from millstream.logistics.projection import haversine_m

__all__ = ["CleanPing", "CleaningParameters", "PingCleaner", "PingVerdict", "TruckPings", "check_position"]

PingVerdict = Literal["ok", "outlier", "late"]


def check_position(lat: float, lon: float) -> str | None:
    """Why ``(lat, lon)`` is not a position, or ``None`` if it is one."""
    if not (isinstance(lat, int | float) and isinstance(lon, int | float)):
        return "latitude and longitude must be numbers"
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return "latitude and longitude must be finite numbers (got NaN or infinity)"
    if not -90.0 <= lat <= 90.0:
        return f"latitude {lat} is outside -90..90"
    if not -180.0 <= lon <= 180.0:
        return f"longitude {lon} is outside -180..180"
    return None


@dataclass(frozen=True)
class CleaningParameters:
    max_speed_kmh: float = 200.0
    allowed_lateness: timedelta = timedelta(seconds=30)
    confirm_jump: int = 3


@dataclass(frozen=True)
class CleanPing:
    """A ping after cleaning, with its verdict; ``item`` is whatever the caller attached (the event)."""

    truck: str
    at: datetime
    lon: float
    lat: float
    verdict: PingVerdict
    item: object = None
    reason: str = ""


@dataclass
class TruckPings:
    """Per-truck cleaning state."""

    pending: list[tuple[datetime, int, float, float, object]] = field(default_factory=list)
    seq: int = 0
    max_seen: datetime | None = None
    released_at: datetime | None = None
    last_good: tuple[datetime, float, float] | None = None
    suspects: list[tuple[datetime, float, float]] = field(default_factory=list)


def _kmh(a: tuple[datetime, float, float], b: tuple[datetime, float, float]) -> float:
    seconds = abs((b[0] - a[0]).total_seconds())
    metres = haversine_m(a[1], a[2], b[1], b[2])
    return math.inf if seconds == 0 and metres > 1.0 else (0.0 if seconds == 0 else metres / seconds * 3.6)


class PingCleaner:
    """Applies :class:`CleaningParameters` to one truck's :class:`TruckPings`."""

    def __init__(self, params: CleaningParameters | None = None) -> None:
        self.params = params or CleaningParameters()

    def push(self, truck: str, state: TruckPings, at: datetime, lon: float, lat: float,
             item: object = None) -> list[CleanPing]:
        """Add one ping; returns the pings released by it (in event-time order), late ones at once."""
        if state.released_at is not None and at <= state.released_at:
            return [CleanPing(truck, at, lon, lat, "late", item,
                              f"timestamp {at.isoformat()} is not after {state.released_at.isoformat()}, "
                              "already passed")]
        state.seq += 1
        bisect.insort(state.pending, (at, state.seq, lon, lat, item), key=lambda p: (p[0], p[1]))
        state.max_seen = at if state.max_seen is None else max(state.max_seen, at)
        return self._release(truck, state, state.max_seen - self.params.allowed_lateness)

    def flush(self, truck: str, state: TruckPings) -> list[CleanPing]:
        """Release everything buffered (end of input)."""
        return self._release(truck, state, None)

    def _release(self, truck: str, state: TruckPings, until: datetime | None) -> list[CleanPing]:
        out: list[CleanPing] = []
        while state.pending and (until is None or state.pending[0][0] <= until):
            at, _, lon, lat, item = state.pending.pop(0)
            if state.released_at is not None and at == state.released_at:
                out.append(CleanPing(truck, at, lon, lat, "late", item, "a second ping with the same timestamp"))
                continue
            state.released_at = at
            out.append(self._judge(truck, state, at, lon, lat, item))
        return out

    def _judge(self, truck: str, state: TruckPings, at: datetime, lon: float, lat: float,
               item: object) -> CleanPing:
        fix = (at, lon, lat)
        if state.last_good is None:
            state.last_good = fix
            return CleanPing(truck, at, lon, lat, "ok", item)
        speed = _kmh(state.last_good, fix)
        if speed <= self.params.max_speed_kmh:
            state.last_good = fix
            state.suspects.clear()
            return CleanPing(truck, at, lon, lat, "ok", item)
        if state.suspects and _kmh(state.suspects[-1], fix) > self.params.max_speed_kmh:
            state.suspects.clear()
        state.suspects.append(fix)
        if len(state.suspects) >= self.params.confirm_jump:
            state.suspects.clear()
            state.last_good = fix
            return CleanPing(truck, at, lon, lat, "ok", item, "relocated: several consistent pings")
        return CleanPing(truck, at, lon, lat, "outlier", item,
                         f"implied speed {speed:.0f} km/h from the last position exceeds "
                         f"{self.params.max_speed_kmh:.0f} km/h")
