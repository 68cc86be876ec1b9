"""A route as a measured polyline: where along it a position is (progress in metres) and how far is left.

Progress is found by projecting a position onto the line near the vehicle's previous progress, so a route
that passes the same street twice (or loops back near itself) does not make the vehicle jump along it.
"""

from __future__ import annotations

from collections.abc import Sequence

import shapely
from shapely.geometry import LineString, Point
from shapely.ops import substring

from geo.projection import LocalProjection

__all__ = ["RouteLine"]


class RouteLine:
    """``coordinates`` are ``[lon, lat]`` pairs; lengths and offsets are metres."""

    def __init__(self, coordinates: Sequence[Sequence[float]], projection: LocalProjection | None = None) -> None:
        if len(coordinates) < 2:
            msg = "a route needs at least two points"
            raise ValueError(msg)
        self.coordinates = [(float(c[0]), float(c[1])) for c in coordinates]
        self.projection = projection or LocalProjection.around([c[1] for c in self.coordinates])
        self.line = LineString([self.projection.xy(lon, lat) for lon, lat in self.coordinates])
        shapely.prepare(self.line)
        self.length_m = float(self.line.length)

    def progress(self, lon: float, lat: float, near: float | None = None, window_m: float = 3000.0) -> float:
        """Metres along the route of the point closest to ``(lon, lat)``; with ``near`` (the previous
        progress) only the stretch from ``near - 300`` to ``near + window_m`` is considered."""
        point = Point(self.projection.xy(lon, lat))
        if near is None:
            return float(self.line.project(point))
        start = max(0.0, near - 300.0)
        end = min(self.length_m, near + window_m)
        if end - start < 1.0:
            return min(max(near, 0.0), self.length_m)
        part = substring(self.line, start, end)
        return start + float(part.project(point))

    def offset_m(self, lon: float, lat: float) -> float:
        """Distance from the route in metres."""
        return float(self.line.distance(Point(self.projection.xy(lon, lat))))
