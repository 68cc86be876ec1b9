"""The plant as a whole: every machine of the scenario stepped on one simulated timeline.

Stepping in fixed simulated increments from a fixed start makes a run a pure function of the scenario, the
parameters and the seed — the OPC-UA server publishes exactly what :meth:`PlantSimulation.steps` yields.
The same holds across restarts: :meth:`PlantSimulation.catch_up` plays the steps from the run's origin to
"now" without publishing, so a plant started again at simulated time T is in the state (wear, failures,
repairs, orders, counters) an uninterrupted run had at T — the world does not get repaired by a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from millstream.masterdata import Scenario
from simulators.config import PlantParameters, SimulationError, simulation_config
from simulators.groundtruth import GroundTruth
from simulators.plant.machine import MachineSim

__all__ = ["CATCH_UP_MAX_STEPS", "COARSE_STEP_S", "PlantSimulation", "require_machines"]

#: Steps :meth:`PlantSimulation.catch_up` plays exactly (about 3 s of CPU); a longer past is played before
#: them in steps of ``COARSE_STEP_S`` (the same wear process, other noise draws), so a restart after days at
#: a slow speed still starts in seconds.
CATCH_UP_MAX_STEPS = 40_000
COARSE_STEP_S = 60.0


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

    def catch_up(self, origin: datetime, until: datetime, dt_s: float) -> datetime:
        """Play the run from ``origin`` up to ``until`` as a run started at ``origin`` would have stepped it
        (``advance(origin, 0)``, then steps of ``dt_s`` on the grid ``origin + k * dt_s``). Returns the last grid
        instant reached (<= ``until``), from which the caller continues in steps of ``dt_s``.

        Deterministic for the scenario, seed, parameters, origin and ``dt_s``: with the same ``dt_s`` the state
        equals that of an uninterrupted run at the same instant, and so do the ground-truth facts recorded on
        the way (the run that played those instants recorded the same ones: the database store keeps one of
        each by id). A past of more than :data:`CATCH_UP_MAX_STEPS` steps is played first in
        :data:`COARSE_STEP_S` steps.
        """
        if dt_s <= 0:
            msg = f"catch-up step must be positive, got {dt_s}"
            raise SimulationError(msg)
        self.advance(origin, 0.0)
        steps = max(0, int((until - origin).total_seconds() // dt_s))
        fine_from = max(0, steps - CATCH_UP_MAX_STEPS)
        now = origin
        if fine_from:
            coarse_until = origin + timedelta(seconds=fine_from * dt_s)
            while now + timedelta(seconds=COARSE_STEP_S) <= coarse_until:
                now += timedelta(seconds=COARSE_STEP_S)
                self.advance(now, COARSE_STEP_S)
            if now < coarse_until:
                self.advance(coarse_until, (coarse_until - now).total_seconds())
        for k in range(fine_from + 1, steps + 1):
            self.advance(origin + timedelta(seconds=k * dt_s), dt_s)
        return origin + timedelta(seconds=steps * dt_s)

    def finish(self, now: datetime) -> None:
        for sim in self.machines.values():
            sim.finish(now)
