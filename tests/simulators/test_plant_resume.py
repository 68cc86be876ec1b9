"""The plant's machines as ``millstream up`` runs them: worn when the run begins, and still as worn after a restart.

``up`` gives the plant the run's origin and the clock's now; a restarted ``up`` continues the clock where it
stopped. The plant must be a function of that clock (seed, scenario, origin, step): restarted at T it is in the
state an uninterrupted run had at T — a restart of the software does not repair the simulated machines.
No OPC UA here: the server's simulation is stepped with ``tick`` (which publishes nothing while not serving).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from millstream.masterdata import Scenario, read_scenario
from simulators.clock import run_scenario
from simulators.config import PlantParameters, simulation_config
from simulators.groundtruth import GroundTruth
from simulators.plant.offline import run_to_failure
from simulators.plant.server import PlantServer
from simulators.plant.simulation import PlantSimulation
from tests.helpers.paths import DEMO

ORIGIN = datetime(2026, 11, 22, 7, 40, tzinfo=UTC)
SPEED = 10.0  # make demo DEMO_ARGS="--speed 10": a step of 5 simulated seconds


@pytest.fixture(scope="module")
def demo() -> Scenario:
    return read_scenario(DEMO)


def _state(plant: PlantServer) -> dict[str, tuple[object, ...]]:
    return {m: (sim.state, sim.health.value, sim.health.running_s, sim.health.onset_at_s, sim.good_parts,
                sim.scrap_parts, sim.active_order.id if sim.active_order else None, sim.values())
            for m, sim in plant.simulation.machines.items()}


async def _ticks(plant: PlantServer, count: int) -> list[tuple[datetime, dict[str, tuple[object, ...]]]]:
    out = []
    for _ in range(count):
        await plant.tick()
        out.append((plant.sim_time, _state(plant)))
    return out


def test_a_plant_restarted_at_clock_t_continues_as_an_uninterrupted_run(demo: Scenario) -> None:
    t = ORIGIN + timedelta(hours=1.5, seconds=2.3)  # where a stopped run's clock got (not on the step grid)

    async def play() -> None:
        uninterrupted = PlantServer(demo, seed=0, speed=SPEED, start=ORIGIN, origin=ORIGIN)
        steps = int((t - ORIGIN).total_seconds() // uninterrupted.dt_s)
        before = await _ticks(uninterrupted, steps)
        after = await _ticks(uninterrupted, 240)  # 20 simulated minutes on

        restarted = PlantServer(demo, seed=0, speed=SPEED, start=t, origin=ORIGIN)
        health = {m: sim.health.value for m, sim in restarted.simulation.machines.items()}
        assert health == {m: s[1] for m, s in before[-1][1].items()}, "a restart must not repair the machines"
        assert _state(restarted) == before[-1][1]
        assert restarted.sim_time == before[-1][0] <= t < restarted.sim_time + timedelta(seconds=restarted.dt_s)
        assert await _ticks(restarted, 240) == after
        worn = [m for m, s in before[-1][1].items() if s[1] < 0.95]
        assert worn, "after 1.5 simulated hours some machine is worn (the test would prove nothing otherwise)"
        # the facts of the past it played are those the uninterrupted run recorded (the database keeps one of each)
        past = [f.as_json() for f in uninterrupted.truth if f.time <= restarted.sim_time]
        assert [f.as_json() for f in restarted.truth if f.time <= restarted.sim_time] == past
        assert [f.as_json() for f in restarted.truth] == [f.as_json() for f in uninterrupted.truth]

    asyncio.run(play())


def test_a_restart_after_a_long_run_catches_up_in_seconds_and_stays_deterministic(demo: Scenario) -> None:
    t = ORIGIN + timedelta(days=1)  # at speed 1 (0.5 s steps): 172,800 steps, more than are played one by one
    started = time.process_time()
    a = PlantServer(demo, seed=4, speed=1.0, start=t, origin=ORIGIN)
    assert time.process_time() - started < 20, "a restart's catch-up takes seconds, not minutes"
    b = PlantServer(demo, seed=4, speed=1.0, start=t, origin=ORIGIN)
    assert _state(a) == _state(b)
    assert a.sim_time <= t < a.sim_time + timedelta(seconds=a.dt_s)
    assert sum(len(sim.orders) for sim in a.simulation.machines.values()) > 0
    assert all(sim.state == "idle" for sim in a.simulation.machines.values()), "a day later every order is done"


def test_without_the_run_origin_the_plant_starts_at_start_as_before(demo: Scenario) -> None:
    start = ORIGIN + timedelta(hours=2)
    plant = PlantServer(demo, seed=1, speed=SPEED, start=start)
    expected = PlantSimulation(run_scenario(demo, start), seed=1)
    expected.advance(start, 0.0)
    assert plant.sim_time == start
    assert {m: s.values() for m, s in plant.simulation.machines.items()} == \
        {m: s.values() for m, s in expected.machines.items()}


def test_the_demo_plant_starts_worn_and_machines_fail_within_its_first_hours(demo: Scenario) -> None:
    params = simulation_config(demo).plant
    assert params.initial_age_h > 0
    truth = GroundTruth()
    plant = PlantSimulation(run_scenario(demo, ORIGIN), seed=0, truth=truth)  # up's default seed
    for _ in plant.steps(ORIGIN, 5.0, int(3 * 3600 / 5.0)):
        pass
    at_start = {m: s for m, s in plant.machines.items()}
    assert len({round(s.health.running_s) for s in at_start.values()}) == len(at_start), "every machine its own age"
    failures = truth.of_kind("failure")
    assert any(f.time - ORIGIN <= timedelta(hours=2) for f in failures), [str(f.time) for f in failures]
    assert len({f.subject for f in failures}) >= 2, "several machines fail within the first three hours"
    onsets = truth.of_kind("degradation_onset")
    assert any(f.details.get("before_start") and f.time < ORIGIN for f in onsets), "some machine starts degraded"
    for failure in failures:
        assert any(o.subject == failure.subject and o.time < failure.time for o in onsets), failure


def test_initial_age_zero_keeps_new_machines() -> None:
    demo = read_scenario(DEMO)
    new = PlantParameters()
    plant = PlantSimulation(run_scenario(demo, ORIGIN), seed=0, params=new)
    assert {s.health.running_s for s in plant.machines.values()} == {0.0}
    assert {s.health.value for s in plant.machines.values()} == {1.0}


def test_offline_units_of_different_kinds_are_independent_machines() -> None:
    def lives(kind: str) -> list[float]:
        return [r.time_s for r in run_to_failure(6, seed=3, kind=kind) if r.rul_s == 0]

    lathe, mill, assembly = lives("lathe"), lives("mill"), lives("assembly")
    # one wear history per unit number shared by every kind made a unit-grouped CV over kinds hold out twins
    assert all(len({a, b, c}) == 3 for a, b, c in zip(lathe, mill, assembly, strict=True))
    assert lives("lathe") == lathe
