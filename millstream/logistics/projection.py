"""A local metric projection: WGS84 ``(lon, lat)`` degrees to ``(x, y)`` metres, vectorised.

An equirectangular projection around one reference latitude: error well under 1 m per km within a few
hundred kilometres of it — the scale of a regional fleet. Fences, buffers (hysteresis, corridors) and route
distances are computed in these metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["EARTH_RADIUS_M", "LocalProjection", "haversine_m"]

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = math.radians(1.0) * EARTH_RADIUS_M


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, a)))


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular projection around ``lat0`` degrees."""

    lat0: float

    @property
    def kx(self) -> float:
        return _M_PER_DEG * math.cos(math.radians(self.lat0))

    @property
    def ky(self) -> float:
        return _M_PER_DEG

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return lon * self.kx, lat * self.ky

    def lonlat(self, x: float, y: float) -> tuple[float, float]:
        return x / self.kx, y / self.ky

    def xy_arrays(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(lon, dtype=float) * self.kx, np.asarray(lat, dtype=float) * self.ky

    @classmethod
    def around(cls, lats: list[float]) -> LocalProjection:
        """A projection centred on the mean of ``lats`` (the equator when there are none)."""
        return cls(sum(lats) / len(lats) if lats else 0.0)
