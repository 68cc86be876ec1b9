"""Truck positions: one :class:`GpsPing` per GPS fix."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from millstream.events.base import Event, UtcDatetime

__all__ = ["GpsPing"]


class GpsPing(Event):
    """A GPS fix of a truck at its device time (WGS84 degrees, km/h, degrees from north, metres)."""

    kind: ClassVar[str] = "gps_ping"
    time_fields: ClassVar[tuple[str, ...]] = ("timestamp",)

    truck_id: Annotated[str, Field(min_length=1, max_length=64)]
    lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    speed_kmh: Annotated[float, Field(ge=0.0, le=400.0)] = 0.0
    heading_deg: Annotated[float, Field(ge=0.0, lt=360.0)] | None = None
    accuracy_m: Annotated[float, Field(ge=0.0)] | None = None
    altitude_m: Annotated[float, Field(ge=-500.0, le=10_000.0)] | None = None
    battery_pct: Annotated[float, Field(ge=0.0, le=100.0)] | None = None
    timestamp: UtcDatetime

    def identity(self) -> tuple[object, ...]:
        return (self.truck_id, self.timestamp)
