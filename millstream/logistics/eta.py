"""ETA: the remaining route distance over a speed model that blends the trip's recent pace with what each
stretch of the route has shown before, with an uncertainty band; and the naive baseline to compare with.

The route is cut into segments of ``segment_m``. As a vehicle moves along it (:meth:`EtaModel.update`),
the time it took through each whole segment becomes an observation of that segment's *pace* (seconds per
metre: averaging pace, not speed, keeps travel times right) in a :class:`RouteHistory` shared by every trip
on the route. The estimate for a remaining segment ``i`` at ``d_i`` metres ahead is

    pace_i = w_i * recent_pace + (1 - w_i) * history_pace_i,   w_i = exp(-d_i / horizon_m)

— the next few hundred metres go the way the vehicle goes now, the rest the way the route usually goes —
and the band is the history's spread on those segments (80 %), wider where there is no history. Where the
route has no history, the trip's own usual pace stands in: the mean of its completed segments without its
incidents (:func:`usual_paces`: segments more than ``incident_ratio`` times slower than its brisk ones — a
breakdown, a jam). Incidents do not enter the route's history either: a breakdown on one trip is not how the
route goes. A vehicle standing still with distance left is estimated to move on now: its ETA grows with the
clock.

The naive baseline is remaining distance / the trip's average speed so far.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["Eta", "EtaModel", "EtaParameters", "RouteHistory", "TripProgress", "usual_paces"]

_Z80 = 1.2816


@dataclass(frozen=True)
class EtaParameters:
    segment_m: float = 250.0
    horizon_m: float = 600.0
    recent_window: timedelta = timedelta(minutes=8)
    min_speed_mps: float = 0.8
    max_speed_mps: float = 40.0
    min_band: timedelta = timedelta(seconds=30)
    #: How far the recent pace may stray from the usual one (a bus at a stop is not the rest of the trip).
    recent_ratio: float = 2.0
    #: A segment this many times slower than the trip's brisk ones (its lower quartile) was an incident (a
    #: breakdown, a jam): it tells nothing about the rest of this trip nor, once arrived, about the route
    #: (:func:`usual_paces`).
    incident_ratio: float = 3.0
    #: Completed segments before the trip's own usual pace stands in for segments without history.
    min_segments: int = 3


def usual_paces(paces: dict[int, float] | tuple[tuple[int, float], ...],
                ratio: float = EtaParameters.incident_ratio) -> list[tuple[int, float]]:
    """A trip's segment paces without its incidents, by segment: the segments more than ``ratio`` times slower
    than the trip's brisk ones (its lower quartile: the open road) were a breakdown, a jam, a long stop. The
    quartile, not the median, so that a jam covering half of what was driven so far is still seen as one."""
    items = sorted(paces.items() if isinstance(paces, dict) else paces)
    if not items:
        return []
    values = sorted(p for _, p in items)
    brisk = values[(len(values) - 1) // 4]
    return [(k, p) for k, p in items if p <= ratio * brisk]


@dataclass
class _Stats:
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        delta = value - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (value - self.mean)

    @property
    def sd(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.25 * self.mean


@dataclass
class RouteHistory:
    """Observed pace per segment of one route (plain data: snapshot-able)."""

    segment_m: float
    segments: dict[int, _Stats] = field(default_factory=dict)

    def observe(self, segment: int, pace: float) -> None:
        self.segments.setdefault(segment, _Stats()).add(pace)

    def pace(self, segment: int) -> tuple[float, float] | None:
        stats = self.segments.get(segment)
        return None if stats is None or stats.n == 0 else (stats.mean, stats.sd)


@dataclass
class TripProgress:
    """One trip along a route: its start, recent samples and the last segment boundary it crossed."""

    started_at: datetime
    start_progress: float
    progress: float
    at: datetime
    samples: deque[tuple[datetime, float]] = field(default_factory=lambda: deque(maxlen=64))
    boundary: tuple[int, datetime] | None = None
    #: this trip's own observations (segment -> pace), for the trips after it
    paces: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Eta:
    """An estimated arrival with its band, and the naive estimate for comparison (``None`` if not known)."""

    at: datetime
    eta: datetime
    low: datetime
    high: datetime
    remaining_m: float
    naive: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {"eta": self.eta.isoformat(), "eta_low": self.low.isoformat(), "eta_high": self.high.isoformat(),
                "remaining_m": round(self.remaining_m, 1),
                "naive_eta": self.naive.isoformat() if self.naive else None}


class EtaModel:
    """ETA along one route with a shared :class:`RouteHistory`."""

    def __init__(self, history: RouteHistory, params: EtaParameters | None = None) -> None:
        self.history = history
        self.params = params or EtaParameters()

    def start(self, at: datetime, progress: float) -> TripProgress:
        trip = TripProgress(started_at=at, start_progress=progress, progress=progress, at=at)
        trip.samples.append((at, progress))
        return trip

    def update(self, trip: TripProgress, at: datetime, progress: float) -> None:
        """Move the trip to ``progress`` at ``at`` (never backwards); record the segments it completed."""
        if at <= trip.at:
            return
        progress = max(progress, trip.progress)
        seg = self.history.segment_m
        first = math.floor(trip.progress / seg) + 1
        last = math.floor(progress / seg)
        span = progress - trip.progress
        for k in range(first, last + 1):
            crossed = trip.at + (at - trip.at) * ((k * seg - trip.progress) / span)
            if trip.boundary is not None and trip.boundary[0] == k - 1:
                pace = (crossed - trip.boundary[1]).total_seconds() / seg
                self.history.observe(k - 1, pace)
                trip.paces[k - 1] = pace
            trip.boundary = (k, crossed)
        trip.progress, trip.at = progress, at
        trip.samples.append((at, progress))

    def _recent_pace(self, trip: TripProgress) -> float:
        p = self.params
        slowest, fastest = 1.0 / p.min_speed_mps, 1.0 / p.max_speed_mps
        old = next(((t, x) for t, x in trip.samples if trip.at - t <= p.recent_window), None)
        if old is None or trip.at - old[0] < timedelta(seconds=20):
            return self._average_pace(trip) or slowest
        moved = trip.progress - old[1]
        pace = (trip.at - old[0]).total_seconds() / moved if moved > 1.0 else slowest
        return min(max(pace, fastest), slowest)

    def _average_pace(self, trip: TripProgress) -> float | None:
        moved = trip.progress - trip.start_progress
        elapsed = (trip.at - trip.started_at).total_seconds()
        if moved < 50.0 or elapsed <= 0:
            return None
        return elapsed / moved

    def _usual_pace(self, trip: TripProgress) -> float | None:
        """The trip's own pace on the road: the mean over its completed segments without its incidents (a
        breakdown or a jam so far is not how the rest goes, :func:`usual_paces`); the average so far until
        it has ``min_segments`` of them."""
        p = self.params
        if len(trip.paces) >= p.min_segments:
            kept = [pace for _, pace in usual_paces(trip.paces, p.incident_ratio)]
            return sum(kept) / len(kept)
        return self._average_pace(trip)

    def naive(self, trip: TripProgress, target_m: float) -> datetime | None:
        """Remaining distance over the trip's average speed so far."""
        pace = self._average_pace(trip)
        if pace is None:
            return None
        return trip.at + timedelta(seconds=max(0.0, target_m - trip.progress) * pace)

    def estimate(self, trip: TripProgress, target_m: float) -> Eta:
        """The ETA at ``target_m`` metres along the route, as of the trip's latest position."""
        p = self.params
        recent = self._recent_pace(trip)
        fallback = self._usual_pace(trip) or recent
        seg = self.history.segment_m
        segments, horizon, ratio, start = self.history.segments, p.horizon_m, p.recent_ratio, trip.progress
        near_fallback = min(max(recent, fallback / ratio), fallback * ratio)
        pos, seconds, spread, w = trip.progress, 0.0, 0.0, 1.0
        end_m = target_m - 1e-6
        while pos < end_m:
            k = math.floor(pos / seg)
            end = min((k + 1) * seg, target_m)
            length = end - pos
            if w > 1e-12:  # beyond ~16 horizons the recent pace weighs nothing: skip the exponential
                w = math.exp(-(pos - start) / horizon)
            else:
                w = 0.0
            stats = segments.get(k)
            if stats is None or stats.n == 0:
                pace = w * near_fallback + (1 - w) * fallback
                spread += 0.3 * length * pace
            else:
                usual = stats.mean
                near = min(max(recent, usual / ratio), usual * ratio)
                pace = w * near + (1 - w) * usual
                spread += (1 - w) * length * stats.sd + w * 0.2 * length * near
            seconds += length * pace
            pos = end
        band = max(_Z80 * spread, p.min_band.total_seconds())
        eta = trip.at + timedelta(seconds=seconds)
        low = max(trip.at, eta - timedelta(seconds=band))
        return Eta(trip.at, eta, low, eta + timedelta(seconds=band), max(0.0, target_m - trip.progress),
                   self.naive(trip, target_m))
