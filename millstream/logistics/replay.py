"""Replay of historical GPS fixes through the same cleaning, geofence engine and ETA model as the live flow.

Fixes are cleaned per vehicle (impossible jumps dropped), time-ordered across vehicles and run through the
:class:`GeofenceEngine`. With a target fence, every vehicle's *trip* — from leaving another fence (or from its
first fix after ``trip_gap`` of silence) to entering the target — is followed along a route with the
:class:`EtaModel`; the route is a ``LineString`` fence of the file (the one ending nearest the target), or,
without one, learnt from the first trip in the data that goes from a fence to the target. For each trip
that arrives, the ETA and the naive ETA at mid-trip (the first fix at or after half its duration) are
compared with the arrival; the summary gives both mean absolute errors. The route history the ETA learns from
only ever holds what happened before the moment of each estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import shapely
from shapely.geometry import LineString

from millstream.logistics.cleaning import CleaningParameters, PingCleaner, TruckPings
from millstream.logistics.engine import EngineParameters, GeofenceEngine, GeofenceEvent, VehicleFences
from millstream.logistics.eta import EtaModel, EtaParameters, RouteHistory, TripProgress
from millstream.logistics.fences import Fence, FenceSet, GeofenceError
from millstream.logistics.gpscsv import Fix
from millstream.logistics.route import RouteLine

__all__ = ["ReplayResult", "TripResult", "replay", "target_progress"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TripResult:
    trip: str
    vehicle: str
    started_at: datetime
    arrived: datetime
    midtrip_at: datetime | None
    eta_at_midtrip: datetime | None
    naive_eta_at_midtrip: datetime | None
    eta_low: datetime | None = None
    eta_high: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat().replace("+00:00", "Z")

        return {"trip": self.trip, "vehicle": self.vehicle, "started_at": iso(self.started_at),
                "midtrip_at": iso(self.midtrip_at), "eta_at_midtrip": iso(self.eta_at_midtrip),
                "eta_low": iso(self.eta_low), "eta_high": iso(self.eta_high),
                "naive_eta_at_midtrip": iso(self.naive_eta_at_midtrip), "arrived": iso(self.arrived)}


@dataclass
class ReplayResult:
    events: list[GeofenceEvent] = field(default_factory=list)
    trips: list[TripResult] = field(default_factory=list)
    outliers: int = 0
    route_source: str = ""

    def summary(self) -> dict[str, object]:
        compared = [t for t in self.trips if t.eta_at_midtrip is not None and t.naive_eta_at_midtrip is not None]

        def mae(pick: Callable[[TripResult], datetime | None]) -> float | None:
            errors = [abs((pick(t) - t.arrived).total_seconds()) for t in compared]  # type: ignore[operator]
            return sum(errors) / len(errors) if errors else None

        eta, naive = mae(lambda t: t.eta_at_midtrip), mae(lambda t: t.naive_eta_at_midtrip)
        improvement = None if not eta or not naive else 1.0 - eta / naive
        return {"summary": True, "events": len(self.events), "trips_arrived": len(self.trips),
                "trips_compared": len(compared), "eta_mae_s": None if eta is None else round(eta, 1),
                "naive_mae_s": None if naive is None else round(naive, 1),
                "improvement": None if improvement is None else round(improvement, 3),
                "outliers": self.outliers, "route": self.route_source}


@dataclass
class _Trip:
    label: str
    started_at: datetime
    progress: TripProgress | None = None
    estimates: list[tuple[datetime, datetime, datetime | None, datetime, datetime]] = field(default_factory=list)
    track: list[tuple[float, float]] = field(default_factory=list)
    from_fence: bool = False


def target_progress(route: RouteLine, fence_shape: shapely.Geometry) -> float:
    """Metres along ``route`` where it first enters ``fence_shape`` (metric), else its closest point."""
    hit = route.line.intersection(fence_shape)
    if hit.is_empty:
        return float(route.line.project(fence_shape.centroid))
    coords = shapely.get_coordinates(hit)
    return float(min(route.line.project(shapely.points(c)) for c in coords))


def _clean(fixes: Sequence[Fix]) -> tuple[list[Fix], int]:
    cleaner = PingCleaner(CleaningParameters(allowed_lateness=timedelta(0)))
    states: dict[str, TruckPings] = {}
    kept: list[Fix] = []
    outliers = 0
    for fix in sorted(fixes, key=lambda f: (f.at, f.line)):
        for ping in cleaner.push(fix.vehicle, states.setdefault(fix.vehicle, TruckPings()), fix.at, fix.lon,
                                 fix.lat, fix):
            if ping.verdict == "ok":
                kept.append(ping.item)  # type: ignore[arg-type]
            else:
                outliers += 1
    for vehicle, state in states.items():
        for ping in cleaner.flush(vehicle, state):
            if ping.verdict == "ok":
                kept.append(ping.item)  # type: ignore[arg-type]
            else:
                outliers += 1
    kept.sort(key=lambda f: (f.at, f.line))
    return kept, outliers


class _Walk:
    """One pass over the cleaned fixes."""

    def __init__(self, fences: FenceSet, engine_params: EngineParameters, target: str | None,
                 route: RouteLine | None, trip_gap: timedelta, eta_params: EtaParameters) -> None:
        self.fences = fences
        self.engine = GeofenceEngine(fences, engine_params)
        self.target = target
        self.route = route
        self.trip_gap = trip_gap
        self.model = EtaModel(RouteHistory(eta_params.segment_m), eta_params) if route else None
        self.goal = target_progress(route, fences.shapes[fences.index_of[target]]) if route and target else None
        self.vehicles: dict[str, VehicleFences] = {}
        self.trips: dict[str, _Trip | None] = {}
        self.last_at: dict[str, datetime] = {}
        self.result = ReplayResult()
        self.arrived_tracks: list[tuple[bool, list[tuple[float, float]]]] = []

    def run(self, fixes: list[Fix], progress: Progress | None) -> ReplayResult:
        lon = np.fromiter((f.lon for f in fixes), float, len(fixes))
        lat = np.fromiter((f.lat for f in fixes), float, len(fixes))
        levels = self.engine.levels_of(lon, lat)
        for i, (fix, level) in enumerate(zip(fixes, levels, strict=True)):
            self._fix(fix, level)
            if progress and (i + 1) % 5000 == 0:
                progress(i + 1, len(fixes))
        for vehicle, state in self.vehicles.items():
            for event in self.engine.flush(vehicle, state):
                self._event(event, None)
        if progress:
            progress(len(fixes), len(fixes))
        self.result.events.sort(key=lambda e: (e.time, e.vehicle, e.fence))
        return self.result

    def _fix(self, fix: Fix, levels: dict[str, int]) -> None:
        v = fix.vehicle
        state = self.vehicles.setdefault(v, VehicleFences())
        for event in self.engine.advance(v, state, fix.at):  # what the silence before this fix confirmed
            self._event(event, None)
        last = self.last_at.get(v)
        if self.target and (last is None or fix.at - last >= self.trip_gap):
            self.trips[v] = _Trip(fix.trip or f"{v}@{fix.at.isoformat()}", fix.at)
        self.last_at[v] = fix.at
        for event in self.engine.step(v, state, fix.at, fix.lon, fix.lat, levels):
            self._event(event, fix)
        trip = self.trips.get(v)
        if trip is None:
            return
        trip.track.append((fix.lon, fix.lat))
        if self.route is None or self.model is None or self.goal is None:
            return
        near = trip.progress.progress if trip.progress else None
        where = self.route.progress(fix.lon, fix.lat, near)
        if trip.progress is None:
            trip.progress = self.model.start(fix.at, where)
        else:
            self.model.update(trip.progress, fix.at, where)
        eta = self.model.estimate(trip.progress, self.goal)
        trip.estimates.append((fix.at, eta.eta, eta.naive, eta.low, eta.high))

    def _event(self, event: GeofenceEvent, fix: Fix | None) -> None:
        self.result.events.append(event)
        if self.target is None:
            return
        v = event.vehicle
        fence = self.fences.get(event.fence)
        if event.event == "exit" and event.fence != self.target and fence is not None and fence.kind != "corridor":
            label = fix.trip if fix is not None and fix.trip else f"{v}@{event.time.isoformat()}"
            trip = _Trip(label, event.time, from_fence=True)
            trip.track.append((event.lon, event.lat))
            if self.route is not None and self.model is not None:
                trip.progress = self.model.start(event.time, self.route.progress(event.lon, event.lat))
            self.trips[v] = trip
        elif event.event == "enter" and event.fence == self.target:
            current = self.trips.get(v)
            self.trips[v] = None
            if current is not None and event.time > current.started_at:
                self._arrived(v, current, event.time, fix)

    def _arrived(self, vehicle: str, trip: _Trip, arrived: datetime, fix: Fix | None) -> None:
        self.arrived_tracks.append((trip.from_fence, trip.track))
        label = trip.label if not (fix and fix.trip) or trip.from_fence else fix.trip
        mid = trip.started_at + (arrived - trip.started_at) / 2
        chosen = next((e for e in trip.estimates if mid <= e[0] < arrived), None)
        if chosen is None:
            self.result.trips.append(TripResult(label, vehicle, trip.started_at, arrived, None, None, None))
            return
        at, eta, naive, low, high = chosen
        self.result.trips.append(TripResult(label, vehicle, trip.started_at, arrived, at, eta, naive, low, high))


def _route_for(fences: FenceSet, target: str) -> RouteLine | None:
    target_shape = fences.shapes[fences.index_of[target]]
    lines = [f for f in fences.fences if f.kind == "corridor" and f.line_ll is not None]
    if not lines:
        return None
    best = min(lines, key=lambda f: shapely.distance(
        shapely.points(fences.projection.xy(*f.line_ll.coords[-1])), target_shape))  # type: ignore[union-attr]
    return RouteLine(list(best.line_ll.coords), fences.projection)  # type: ignore[union-attr]


def _learnt_route(tracks: list[tuple[bool, list[tuple[float, float]]]], fences: FenceSet) -> RouteLine | None:
    complete = [t for from_fence, t in tracks if from_fence and len(t) >= 2] or [t for _, t in tracks if len(t) >= 2]
    if not complete:
        return None
    proj = fences.projection
    line = LineString([proj.xy(lon, lat) for lon, lat in complete[0]]).simplify(10.0)
    return RouteLine([proj.lonlat(x, y) for x, y in line.coords], proj)


def replay(fixes: Sequence[Fix], fences: Sequence[Fence], *, eta_to: str | None = None,
           engine_params: EngineParameters | None = None, eta_params: EtaParameters | None = None,
           hysteresis_m: float = 50.0, trip_gap: timedelta = timedelta(minutes=10),
           progress: Progress | None = None) -> ReplayResult:
    """Geofence events of ``fixes`` and, with ``eta_to`` (a fence id), the trips that arrive there."""
    fence_set = FenceSet(fences, hysteresis_m=hysteresis_m)
    if eta_to is not None and fence_set.get(eta_to) is None:
        msg = f"--eta-to {eta_to!r}: no such fence (fences: {', '.join(f.id for f in fence_set.fences)})"
        raise GeofenceError(msg)
    engine_params = engine_params or EngineParameters()
    eta_params = eta_params or EtaParameters()
    cleaned, outliers = _clean(fixes)
    route, source = None, ""
    if eta_to is not None:
        route = _route_for(fence_set, eta_to)
        source = "geofence file"
        if route is None:
            walk0 = _Walk(fence_set, engine_params, eta_to, None, trip_gap, eta_params)
            walk0.run(cleaned, None)
            route = _learnt_route(walk0.arrived_tracks, fence_set)
            source = "learnt from the first trip that arrives"
    result = _Walk(fence_set, engine_params, eta_to, route, trip_gap, eta_params).run(cleaned, progress)
    result.outliers = outliers
    result.route_source = source
    return result
