"""The clock rule: one timeline for master data and simulators; processes of a run share one clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from millstream.clock import process_clock, record_timestamp_ms
from millstream.masterdata import read_scenario
from millstream.settings import ClockSettings
from simulators.clock import SimClock, run_offset, run_scenario
from simulators.config import SimulationError, simulation_config
from simulators.fleet.simulation import FleetSimulation
from simulators.gates.simulation import GateSimulation
from tests.helpers.paths import ROOT

DEMO = read_scenario(ROOT / "scenarios" / "demo.yaml")
ORIGIN = datetime(2030, 5, 6, 12, 0, tzinfo=UTC)


def test_simulation_start_of_the_scenario_lands_on_the_run_origin() -> None:
    start = simulation_config(DEMO).start
    assert start is not None and DEMO.epoch is not None
    run = run_scenario(DEMO, ORIGIN)
    shift = ORIGIN - start
    assert run_offset(DEMO, ORIGIN) == shift
    for before, after in zip(DEMO.shipments, run.shipments, strict=True):
        assert (after.promised_from, after.promised_to) == (before.promised_from + shift, before.promised_to + shift)
    for before, after in zip(DEMO.receipts, run.receipts, strict=True):
        assert after.expected_at == before.expected_at + shift


def test_without_simulation_start_the_epoch_is_the_run_origin() -> None:
    plain = DEMO.model_copy(update={"simulation": {}})
    assert run_scenario(plain, ORIGIN).epoch == ORIGIN


def test_demo_trucks_move_and_gates_read_within_the_first_simulated_minutes() -> None:
    run = run_scenario(DEMO, ORIGIN)
    first_ping = next(e for e in FleetSimulation(run, 0).timeline(ORIGIN) if e.event is not None)
    first_read = next(e for e in GateSimulation(run, 0).timeline(ORIGIN) if e.event is not None)
    assert ORIGIN <= first_ping.at < ORIGIN + timedelta(minutes=2)
    assert ORIGIN <= first_read.at < ORIGIN + timedelta(minutes=2)


def test_master_data_and_simulators_use_the_same_shift() -> None:
    """A truck's trip is planned from the promised window stored for the run: it departs inside the run."""
    run = run_scenario(DEMO, ORIGIN)
    trip = FleetSimulation(run, 0).trips[0]
    window = next(s for s in run.shipments if s.id == trip.plan.shipment.id)
    assert trip.plan.departure < window.promised_to and trip.arrival > window.promised_from - timedelta(hours=3)


def test_clocks_with_one_wall_start_agree_whenever_they_are_created() -> None:
    wall_start = time.time() - 5.0  # the run began five wall seconds ago
    first = SimClock(ORIGIN, 60.0, wall_start)
    time.sleep(0.05)
    second = SimClock(ORIGIN, 60.0, wall_start)
    difference = abs((first.now() - second.now()).total_seconds())
    assert difference < 0.5  # 60 x a few ms of scheduling, not 60 x 50 ms
    assert timedelta(seconds=290) < first.now() - ORIGIN < timedelta(seconds=320)


def test_process_clock_is_the_wall_clock_unless_a_run_sets_one() -> None:
    assert record_timestamp_ms(ClockSettings()) is None
    assert abs((process_clock(ClockSettings()).now() - datetime.now(UTC)).total_seconds()) < 1
    shared = ClockSettings(start=ORIGIN, speed=10.0, wall_start=time.time())
    stamp = record_timestamp_ms(shared)
    assert stamp is not None and abs(stamp - ORIGIN.timestamp() * 1000) < 5_000


def test_an_unusable_speed_is_refused_with_the_reason() -> None:
    with pytest.raises(SimulationError, match="speed must be a positive"):
        SimClock(ORIGIN, 0.0)
