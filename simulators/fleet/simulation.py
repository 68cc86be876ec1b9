"""The whole fleet: every shipment of the scenario driven by its truck, repeated for ``days``, as a timeline.

:meth:`FleetSimulation.timeline` merges all trips' pings (in delivery order — buffered pings arrive late with
their original timestamps) with the trips' ground truth; it needs no broker, so logic tests use it directly.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime

from millstream.masterdata import Scenario
from simulators.config import FleetParameters, SimulationError, simulation_config
from simulators.fleet.trip import Trip, drive, plan_trip
from simulators.timeline import Emission

__all__ = ["FleetSimulation"]


class FleetSimulation:
    """Trucks driving the (already rebased) scenario's shipments, deterministic for a seed."""

    def __init__(self, scenario: Scenario, seed: int = 0, params: FleetParameters | None = None,
                 days: int = 1) -> None:
        if not scenario.shipments:
            msg = f"scenario {scenario.name!r} has no shipments: the fleet has nothing to drive (shipments: [])"
            raise SimulationError(msg)
        if days < 1:
            msg = f"days must be at least 1, got {days}"
            raise SimulationError(msg)
        self.scenario = scenario
        self.seed = seed
        self.params = params or simulation_config(scenario).fleet
        self.days = days
        self._trips: list[Trip] | None = None

    @property
    def trips(self) -> list[Trip]:
        if self._trips is None:
            self._trips = [drive(plan_trip(sh, self.seed, self.params, day), self.seed, self.params, day)
                           for day in range(self.days) for sh in self.scenario.shipments]
        return self._trips

    def timeline(self, since: datetime | None = None) -> Iterator[Emission]:
        """Pings and facts in delivery order (facts first at equal instants), from ``since`` on."""
        streams = [
            [(f.time, 0, i, k, Emission(f.time, fact=f)) for k, f in enumerate(trip.facts)]
            + [(at, 1, i, k, Emission(at, event=p)) for k, (at, p) in enumerate(trip.pings)]
            for i, trip in enumerate(self.trips)
        ]
        for stream in streams:
            stream.sort(key=lambda item: item[:4])
        for at, *_, emission in heapq.merge(*streams, key=lambda item: item[:4]):
            if since is None or at >= since:
                yield emission
