"""What the whole fleet has shown on each route: the segment paces of arrived trips, for every later trip on
the route to estimate from — whichever truck drove it.

The dataflow is keyed by truck, so this is not a keyed state of its own: each truck's state keeps the paces
of its own arrived trips (:class:`TruckTrips`, snapshotted with the truck), and one :class:`FleetHistory` per
process holds the union of them, rebuilt from every truck's snapshot when the flow resumes (Bytewax builds
each key's logic from its snapshot at start-up). Adding the same trip twice changes nothing.

A trip estimates from the trips that arrived at least ``settled`` before it departed (event time; the history
is frozen at departure), so the result does not depend on how the input partitions interleave while they are
read, as long as they stay within ``settled`` of each other (the flow reads them in small rounds). Per route
only the ``keep`` most recent trips count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from millstream.logistics.eta import RouteHistory, usual_paces

__all__ = ["ArrivedTrip", "FleetHistory", "TruckTrips"]


@dataclass(frozen=True)
class ArrivedTrip:
    trip_id: str
    arrived: datetime
    paces: tuple[tuple[int, float], ...]  # (segment, seconds per metre), by segment


def _add(trips: dict[str, dict[str, ArrivedTrip]], route: str, trip: ArrivedTrip, keep: int) -> bool:
    on_route = trips.setdefault(route, {})
    if trip.trip_id in on_route:
        return False
    on_route[trip.trip_id] = trip
    if len(on_route) > keep:  # the oldest by (arrival, id): the same set whatever the order of adding
        del on_route[min(on_route.values(), key=lambda t: (t.arrived, t.trip_id)).trip_id]
    return True


@dataclass
class TruckTrips:
    """One truck's own arrived trips per route (part of its snapshot)."""

    trips: dict[str, dict[str, ArrivedTrip]] = field(default_factory=dict)


@dataclass
class FleetHistory:
    """The fleet's arrived trips per route (union of every truck's :class:`TruckTrips`)."""

    keep: int = 30
    settled: timedelta = timedelta(minutes=30)
    trips: dict[str, dict[str, ArrivedTrip]] = field(default_factory=dict)
    #: the workers of one process are threads sharing this history
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def arrived(self, own: TruckTrips, route: str, trip: ArrivedTrip) -> None:
        """A truck's trip on ``route`` arrived: into its own record and the fleet's."""
        _add(own.trips, route, trip, self.keep)
        with self._lock:
            _add(self.trips, route, trip, self.keep)

    def adopt(self, own: TruckTrips) -> None:
        """A truck's state came back from a snapshot: its trips join the fleet's."""
        with self._lock:
            for route, trips in own.trips.items():
                for trip in trips.values():
                    _add(self.trips, route, trip, self.keep)

    def history(self, route: str, departed: datetime, segment_m: float) -> RouteHistory:
        """The route's segment history for a trip departing at ``departed``."""
        history = RouteHistory(segment_m)
        with self._lock:
            usable = [t for t in self.trips.get(route, {}).values() if t.arrived <= departed - self.settled]
        for trip in sorted(usable, key=lambda t: (t.arrived, t.trip_id)):
            for segment, pace in usual_paces(trip.paces):  # a breakdown on one trip is not the route's pace
                history.observe(segment, pace)
        return history
