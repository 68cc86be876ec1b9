"""A route as a measured polyline: where along it a position is (progress in metres) and how far is left.

Progress is found by projecting a position onto the line near the vehicle's previous progress, so a route
that passes the same street twice (or loops back near itself) does not make the vehicle jump along it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import LineString, Point

from millstream.logistics.projection import LocalProjection

__all__ = ["RouteLine"]

_SMALL = 24


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
        xy = np.asarray(self.line.coords)[:, :2]
        self._a, d = xy[:-1], np.diff(xy, axis=0)
        self._d = d
        self._len2 = np.maximum((d * d).sum(axis=1), 1e-12)
        self._cum = np.concatenate(([0.0], np.cumsum(np.sqrt(self._len2))))
        self._segments = [(float(ax), float(ay), float(dx), float(dy), float(l2), float(c))
                          for (ax, ay), (dx, dy), l2, c in zip(self._a, d, self._len2, self._cum[:-1], strict=True)]
        self._cum_list = self._cum.tolist()

    def progress(self, lon: float, lat: float, near: float | None = None, window_m: float = 3000.0) -> float:
        """Metres along the route of the point closest to ``(lon, lat)``; with ``near`` (the previous
        progress) only the stretch from ``near - 300`` to ``near + window_m`` is considered. Vectorised over
        the route's segments."""
        x, y = self.projection.xy(lon, lat)
        first, last = 0, len(self._a)
        if near is not None:
            first = max(0, bisect.bisect_right(self._cum_list, near - 300.0) - 1)
            last = min(len(self._a), bisect.bisect_left(self._cum_list, near + window_m) + 1)
        if last - first <= _SMALL:  # a few segments: plain Python beats numpy's per-call overhead
            best, where = math.inf, 0.0
            for ax, ay, dx, dy, l2, c in self._segments[first:last]:
                t = min(max(((x - ax) * dx + (y - ay) * dy) / l2, 0.0), 1.0)
                d2 = (ax + t * dx - x) ** 2 + (ay + t * dy - y) ** 2
                if d2 < best:
                    best, where = d2, c + t * math.sqrt(l2)
            return where
        a, d = self._a[first:last], self._d[first:last]
        t = np.clip(((x - a[:, 0]) * d[:, 0] + (y - a[:, 1]) * d[:, 1]) / self._len2[first:last], 0.0, 1.0)
        dist2 = (a[:, 0] + t * d[:, 0] - x) ** 2 + (a[:, 1] + t * d[:, 1] - y) ** 2
        i = int(np.argmin(dist2))
        return float(self._cum[first + i] + t[i] * np.sqrt(self._len2[first + i]))

    def offset_m(self, lon: float, lat: float) -> float:
        """Distance from the route in metres."""
        return float(self.line.distance(Point(self.projection.xy(lon, lat))))
