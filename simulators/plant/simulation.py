"""The plant as a whole: every machine of the scenario stepped on one simulated timeline.

Stepping in fixed simulated increments from a fixed start makes a run a pure function of the scenario, the
parameters and the seed — the OPC-UA server publishes exactly what :meth:`PlantSimulation.steps` yields.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from millstream.masterdata import Scenario
from simulators.config import PlantParameters, SimulationError, simulation_config
from simulators.groundtruth import GroundTruth
from simulators.plant.machine import MachineSim

__all__ = ["PlantSimulation", "require_machines"]


def require_machines(scenario: Scenario) -> None:
    """A plant needs at least one machine; :class:`SimulationError` says so otherwise."""
    if not scenario.machines:
        msg = f"scenario {scenario.name!r} has no machines: a plant needs at least one (machines: [])"
        raise SimulationError(msg)


class PlantSimulation:
    """The scenario's machines with their production orders, advanced together."""

    def __init__(self, scenario: Scenario, seed: int = 0, params: PlantParameters | None = None,
                 truth: GroundTruth | None = None) -> None:
        require_machines(scenario)
        self.scenario = scenario
        self.params = params or simulation_config(scenario).plant
        self.truth = truth if truth is not None else GroundTruth()
        self.machines = {
            m.id: MachineSim(m, [o for o in scenario.production_orders if o.machine_id == m.id], self.params, seed,
                             self.truth)
            for m in scenario.machines
        }

    def advance(self, now: datetime, dt_s: float) -> dict[str, dict[str, Any]]:
        """Every machine's tag values after the step that ends at ``now``."""
        return {machine_id: sim.advance(now, dt_s) for machine_id, sim in self.machines.items()}

    def steps(self, start: datetime, dt_s: float, count: int) -> Iterator[tuple[datetime, dict[str, dict[str, Any]]]]:
        """``count`` steps of ``dt_s`` simulated seconds from ``start``: (time, values per machine)."""
        for k in range(1, count + 1):
            now = start + timedelta(seconds=k * dt_s)
            yield now, self.advance(now, dt_s)

    def finish(self, now: datetime) -> None:
        for sim in self.machines.values():
            sim.finish(now)
