"""Simulated time and the one rule that puts a scenario on a run's timeline.

Every timestamp a simulator emits is read from a :class:`SimClock`, so ``--speed 60`` plays an hour per
minute and the events still carry consistent (simulated) event times.

**The clock rule.** A run of the simulated world has an *origin* (a UTC instant, by default the moment the
run is first started) and a *speed*. A scenario's timestamps are written against its ``epoch``; its
``simulation.start`` (default: the epoch) is the scenario instant at which a run begins. Every scenario
instant ``t`` happens in the run at ``origin + (t - simulation.start)`` — master data loaded for the run
(shipment promised windows, receipts) and all simulators use this same shift (:func:`run_scenario`). A run
that is resumed keeps its origin and continues its clock from where the previous run stopped, so no event of
the new run repeats an instant of the old one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from millstream.clock import SimClock as _BaseClock
from millstream.masterdata import Scenario
from simulators.config import check_speed, simulation_config

__all__ = ["SimClock", "run_offset", "run_scenario"]


class SimClock(_BaseClock):
    """:class:`millstream.clock.SimClock` refusing an unusable speed with :class:`SimulationError`."""

    def __init__(self, start: datetime, speed: float = 1.0, wall_start: float | None = None) -> None:
        super().__init__(start, check_speed(speed), wall_start)


def run_offset(scenario: Scenario, origin: datetime) -> timedelta:
    """How far the scenario's instants move on a run with ``origin``: ``origin - simulation.start``."""
    start = simulation_config(scenario).start or scenario.epoch
    return timedelta(0) if start is None else origin - start


def run_scenario(scenario: Scenario, origin: datetime) -> Scenario:
    """``scenario`` with its timestamps on the run's timeline (``simulation.start`` becomes ``origin``)."""
    if scenario.epoch is None:
        return scenario
    return scenario.rebased(scenario.epoch + run_offset(scenario, origin))
