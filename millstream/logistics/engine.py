"""The geofence engine: enter / exit / dwell per vehicle and fence, debounced, with boundary hysteresis.

Per vehicle and fence, in event time:

- **hysteresis**: *enter* needs a position inside the fence; *exit* needs one outside the fence's outer
  shape (the fence grown by :attr:`FenceSet.hysteresis_m`). A truck idling at the edge, its GPS jittering
  across the line, stays where it was;
- **debounce**: a change is a *candidate* until it has held for ``min_duration`` (every ping in between
  agreeing); a contrary ping drops it. The event carries the time of the first ping of the new state. A
  candidate is also confirmed when the vehicle then falls silent for ``confirm_after_silence`` (a tracker
  switched off at the terminus) or the input ends (:meth:`GeofenceEngine.flush`);
- **dwell**: once, when a vehicle has stayed inside for ``dwell_after`` (time: entry + ``dwell_after``).

The state is plain data (:class:`VehicleFences`), so a dataflow can keep it per truck and snapshot it;
:meth:`GeofenceEngine.run` drives many vehicles at once with vectorised membership tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

from millstream.logistics.fences import INSIDE, FenceSet

__all__ = ["EngineParameters", "FenceEventKind", "GeofenceEngine", "GeofenceEvent", "VehicleFences"]

FenceEventKind = Literal["enter", "exit", "dwell"]


@dataclass(frozen=True)
class GeofenceEvent:
    """A vehicle entered, left or dwelt in a fence at ``time`` (at ``lon``/``lat``)."""

    vehicle: str
    fence: str
    event: FenceEventKind
    time: datetime
    lon: float
    lat: float

    def as_dict(self) -> dict[str, object]:
        return {"vehicle": self.vehicle, "fence": self.fence, "event": self.event,
                "time": self.time.isoformat().replace("+00:00", "Z"), "lon": self.lon, "lat": self.lat}


@dataclass(frozen=True)
class EngineParameters:
    min_duration: timedelta = timedelta(seconds=30)
    confirm_after_silence: timedelta = timedelta(minutes=5)
    dwell_after: timedelta = timedelta(minutes=10)


@dataclass
class _FenceState:
    inside: bool = False
    since: datetime | None = None  # candidate change: first agreeing ping
    since_pos: tuple[float, float] = (0.0, 0.0)
    last_agree: datetime | None = None
    entered_at: datetime | None = None
    dwelt: bool = False


@dataclass
class VehicleFences:
    """What the engine remembers about one vehicle (only fences it is in, near, or changing at)."""

    fences: dict[str, _FenceState] = field(default_factory=dict)
    last_at: datetime | None = None

    def inside(self) -> list[str]:
        return [fid for fid, s in self.fences.items() if s.inside]


class GeofenceEngine:
    """Turns positions into :class:`GeofenceEvent` with the rules of the module docstring."""

    def __init__(self, fences: FenceSet, params: EngineParameters | None = None) -> None:
        self.fences = fences
        self.params = params or EngineParameters()
        self.vehicles: dict[str, VehicleFences] = {}

    # -- one vehicle -------------------------------------------------------------------------------------
    def advance(self, vehicle: str, state: VehicleFences, at: datetime) -> list[GeofenceEvent]:
        """Confirm candidates the vehicle's silence since its last agreeing ping has confirmed by ``at``."""
        out: list[GeofenceEvent] = []
        silence = self.params.confirm_after_silence
        for fid, fs in list(state.fences.items()):
            if fs.since is not None and fs.last_agree is not None and at - fs.last_agree >= silence:
                out.append(self._confirm(vehicle, state, fid, fs))
        return out

    def step(self, vehicle: str, state: VehicleFences, at: datetime, lon: float, lat: float,
             levels: dict[str, int]) -> list[GeofenceEvent]:
        """Apply one position (``levels``: fence id -> 2 inside / 1 in the band; absent = outside)."""
        out = self.advance(vehicle, state, at)
        state.last_at = at
        p = self.params
        for fid in set(levels) | set(state.fences):
            level = levels.get(fid, 0)
            fs = state.fences.get(fid)
            if fs is None:
                if level != INSIDE:
                    continue
                fs = state.fences[fid] = _FenceState()
            changing = (level == INSIDE) if not fs.inside else (level == 0)
            if not changing:
                fs.since = None
                fs.last_agree = None
                if not fs.inside:
                    del state.fences[fid]
                    continue
                if not fs.dwelt and fs.entered_at is not None and at - fs.entered_at >= p.dwell_after:
                    fs.dwelt = True
                    out.append(GeofenceEvent(vehicle, fid, "dwell", fs.entered_at + p.dwell_after, lon, lat))
                continue
            if fs.since is None:
                fs.since, fs.since_pos = at, (lon, lat)
            fs.last_agree = at
            if at - fs.since >= p.min_duration:
                out.append(self._confirm(vehicle, state, fid, fs))
        return out

    def flush(self, vehicle: str, state: VehicleFences) -> list[GeofenceEvent]:
        """The input ended: pending candidates stand (the last thing known of the vehicle)."""
        return [self._confirm(vehicle, state, fid, fs) for fid, fs in list(state.fences.items()) if fs.since]

    def _confirm(self, vehicle: str, state: VehicleFences, fid: str, fs: _FenceState) -> GeofenceEvent:
        assert fs.since is not None
        at, (lon, lat) = fs.since, fs.since_pos
        fs.since = fs.last_agree = None
        if fs.inside:
            del state.fences[fid]
            return GeofenceEvent(vehicle, fid, "exit", at, lon, lat)
        fs.inside, fs.entered_at, fs.dwelt = True, at, False
        return GeofenceEvent(vehicle, fid, "enter", at, lon, lat)

    # -- many vehicles ------------------------------------------------------------------------------------
    def levels_of(self, lon: np.ndarray, lat: np.ndarray) -> list[dict[str, int]]:
        """Per point, ``fence id -> level`` (one vectorised classification for all points)."""
        pi, fi, level = self.fences.classify(lon, lat)
        per_point: list[dict[str, int]] = [{} for _ in range(len(lon))]
        ids = [f.id for f in self.fences.fences]
        for p, f, lv in zip(pi.tolist(), fi.tolist(), level.tolist(), strict=True):
            per_point[p][ids[f]] = lv
        return per_point

    def run(self, pings: Iterable[tuple[str, datetime, float, float]], chunk: int = 65_536
            ) -> Iterator[GeofenceEvent]:
        """Events of time-ordered ``(vehicle, time, lon, lat)`` pings, classified ``chunk`` at a time."""
        batch: list[tuple[str, datetime, float, float]] = []
        for ping in pings:
            batch.append(ping)
            if len(batch) >= chunk:
                yield from self.process_batch(batch)
                batch = []
        if batch:
            yield from self.process_batch(batch)

    def process_batch(self, batch: list[tuple[str, datetime, float, float]]) -> list[GeofenceEvent]:
        lon = np.fromiter((b[2] for b in batch), float, len(batch))
        lat = np.fromiter((b[3] for b in batch), float, len(batch))
        out: list[GeofenceEvent] = []
        vehicles = self.vehicles
        for (vehicle, at, x, y), levels in zip(batch, self.levels_of(lon, lat), strict=True):
            state = vehicles.get(vehicle)
            if state is None:
                if not levels:
                    continue
                state = vehicles[vehicle] = VehicleFences()
            elif not levels and not state.fences:
                state.last_at = at
                continue
            out.extend(self.step(vehicle, state, at, x, y, levels))
        return out

    def finish(self) -> list[GeofenceEvent]:
        """:meth:`flush` every vehicle."""
        return [e for v, s in self.vehicles.items() for e in self.flush(v, s)]
