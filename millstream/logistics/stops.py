"""Stops and distances in a truck's track: where it stood still (and for how long), how far it drove."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from millstream.logistics.projection import haversine_m

__all__ = ["Stop", "find_stops", "track_length_m"]


@dataclass(frozen=True)
class Stop:
    started_at: datetime
    ended_at: datetime
    lat: float
    lon: float
    points: int

    @property
    def duration(self) -> timedelta:
        return self.ended_at - self.started_at


def find_stops(track: Sequence[tuple[datetime, float, float]], radius_m: float = 75.0,
               min_duration: timedelta = timedelta(minutes=5)) -> list[Stop]:
    """Maximal runs of ``(time, lat, lon)`` fixes within ``radius_m`` of the run's first fix lasting at least
    ``min_duration``, in time order."""
    stops: list[Stop] = []
    i = 0
    while i < len(track):
        t0, lat0, lon0 = track[i]
        j = i
        while j + 1 < len(track) and haversine_m(lon0, lat0, track[j + 1][2], track[j + 1][1]) <= radius_m:
            j += 1
        if track[j][0] - t0 >= min_duration:
            run = track[i:j + 1]
            stops.append(Stop(t0, track[j][0], sum(p[1] for p in run) / len(run), sum(p[2] for p in run) / len(run),
                              len(run)))
            i = j + 1
        else:
            i += 1
    return stops


def track_length_m(track: Sequence[tuple[datetime, float, float]]) -> float:
    return sum(haversine_m(a[2], a[1], b[2], b[1]) for a, b in itertools.pairwise(track))
