"""A shipment's route as a polyline you can drive along: positions, headings and sideways offsets in metres.

Coordinates are GeoJSON ``[lon, lat]`` degrees. Distances use a local equirectangular projection around the
route's mean latitude — accurate to well under a metre per kilometre at regional scale, and fast.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

__all__ = ["EARTH_RADIUS_M", "Route", "haversine_m"]

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


class Route:
    """A polyline with cumulative distance; :meth:`position` interpolates along it."""

    def __init__(self, coordinates: Sequence[Sequence[float]]) -> None:
        if len(coordinates) < 2:
            msg = "a route needs at least two points"
            raise ValueError(msg)
        self._lat0 = math.radians(sum(c[1] for c in coordinates) / len(coordinates))
        self._kx = math.radians(1.0) * EARTH_RADIUS_M * math.cos(self._lat0)
        self._ky = math.radians(1.0) * EARTH_RADIUS_M
        self._xy = [(c[0] * self._kx, c[1] * self._ky) for c in coordinates]
        self._cum = [0.0]
        for (x1, y1), (x2, y2) in zip(self._xy, self._xy[1:], strict=False):
            self._cum.append(self._cum[-1] + math.hypot(x2 - x1, y2 - y1))
        self.length_m = self._cum[-1]

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        return x / self._kx, y / self._ky

    def to_xy(self, lon: float, lat: float) -> tuple[float, float]:
        return lon * self._kx, lat * self._ky

    def position(self, distance_m: float, offset_m: float = 0.0) -> tuple[float, float, float]:
        """``(lon, lat, heading_deg)`` at ``distance_m`` along the route, ``offset_m`` to its left."""
        d = min(max(distance_m, 0.0), self.length_m)
        i = min(max(bisect.bisect_right(self._cum, d) - 1, 0), len(self._xy) - 2)
        (x1, y1), (x2, y2) = self._xy[i], self._xy[i + 1]
        seg = self._cum[i + 1] - self._cum[i]
        f = (d - self._cum[i]) / seg if seg > 0 else 0.0
        dx, dy = x2 - x1, y2 - y1
        norm = math.hypot(dx, dy) or 1.0
        x = x1 + f * dx - offset_m * dy / norm
        y = y1 + f * dy + offset_m * dx / norm
        heading = math.degrees(math.atan2(dx, dy)) % 360.0
        lon, lat = self.to_lonlat(x, y)
        return lon, lat, heading

    def displaced(self, lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
        x, y = self.to_xy(lon, lat)
        return self.to_lonlat(x + east_m, y + north_m)
