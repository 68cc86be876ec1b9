"""The plant's physics and production against its own ground truth (no OPC UA: pure simulated time)."""

from __future__ import annotations

import itertools
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from millstream.masterdata import Scenario, read_scenario
from simulators.config import PlantParameters, SimulationError, simulation_config
from simulators.groundtruth import GroundTruth
from simulators.plant.offline import run_to_failure, write_histories
from simulators.plant.simulation import PlantSimulation
from tests.helpers.paths import ROOT

START = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
FAST_WEAR = PlantParameters(onset_mean_h=0.5, wear_rate_per_h=0.3, wear_acceleration_per_h=1.0,
                            repair_mean_min=20, reset_on_restart_probability=1.0)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)


def _run(scenario: Scenario, seed: int, hours: float, params: PlantParameters = FAST_WEAR, dt_s: float = 10.0):
    truth = GroundTruth()
    plant = PlantSimulation(scenario, seed, params, truth)
    steps = [(t, {m: dict(v) for m, v in values.items()})
             for t, values in plant.steps(START, dt_s, int(hours * 3600 / dt_s))]
    return steps, truth


def test_same_seed_same_values_and_truth(scenario: Scenario) -> None:
    a, truth_a = _run(scenario, 7, 2)
    b, truth_b = _run(scenario, 7, 2)
    c, _ = _run(scenario, 8, 2)
    assert a == b
    assert [f.as_json() for f in truth_a] == [f.as_json() for f in truth_b]
    assert a != c


def test_failures_follow_onsets_and_degradation_shows_in_the_signals(scenario: Scenario) -> None:
    steps, truth = _run(scenario, 3, 6)
    failures = truth.of_kind("failure")
    assert len(failures) >= 3, "fast wear over 6 h must fail several machines"
    for failure in failures:
        machine = failure.subject
        onsets = [f.time for f in truth.of_kind("degradation_onset") if f.subject == machine and f.time < failure.time]
        assert onsets, f"{machine} failed at {failure.time} without a degradation onset before"
        onset = max(onsets)
        before = [v[machine]["vibration_rms"] for t, v in steps
                  if onset - timedelta(minutes=20) <= t < onset and v[machine]["state"] == "running"]
        last = [v[machine]["vibration_rms"] for t, v in steps
                if failure.time - timedelta(minutes=10) <= t < failure.time and v[machine]["state"] == "running"]
        current_before = [v[machine]["motor_current"] for t, v in steps
                          if onset - timedelta(minutes=20) <= t < onset and v[machine]["state"] == "running"]
        current_last = [v[machine]["motor_current"] for t, v in steps
                        if failure.time - timedelta(minutes=10) <= t < failure.time
                        and v[machine]["state"] == "running"]
        if before and last:
            assert statistics.mean(last) > 1.5 * statistics.mean(before)
            assert statistics.stdev(last) > statistics.stdev(before)
            assert statistics.mean(current_last) > 1.1 * statistics.mean(current_before)
        at_failure = next(v[machine] for t, v in steps if t == failure.time)
        assert at_failure["state"] == "down"
        assert at_failure["spindle_speed"] == 0


def test_counters_stop_while_down_and_repairs_are_recorded(scenario: Scenario) -> None:
    steps, truth = _run(scenario, 3, 6)
    repairs = truth.of_kind("repaired")
    assert repairs
    for failure in truth.of_kind("failure"):
        machine = failure.subject
        repair = next((r for r in repairs if r.subject == machine and r.time > failure.time), None)
        end = repair.time if repair else steps[-1][0]
        down = [v[machine] for t, v in steps if failure.time <= t < end]
        assert {d["state"] for d in down} <= {"down", "maintenance"}
        assert len({(d["good_parts"], d["scrap_parts"]) for d in down}) == 1, "counters moved while down"


def test_counter_resets_appear_in_ground_truth_exactly_where_counters_drop(scenario: Scenario) -> None:
    steps, truth = _run(scenario, 3, 6)
    resets = truth.of_kind("counter_reset")
    assert {r.details["reason"] for r in resets} == {"new_order", "restart"}
    drops = set()
    for (_, prev), (t, cur) in itertools.pairwise(steps):
        for machine in cur:
            if cur[machine]["good_parts"] < prev[machine]["good_parts"] or (
                    cur[machine]["scrap_parts"] < prev[machine]["scrap_parts"]):
                drops.add((machine, t))
    recorded = {(r.subject, r.time) for r in resets if r.details["good_parts_before"] + r.details[
        "scrap_parts_before"] > 0}
    assert drops == recorded


def test_orders_complete_with_their_planned_good_parts(scenario: Scenario) -> None:
    _, truth = _run(scenario, 5, 8, PlantParameters(onset_mean_h=100))
    completed = truth.of_kind("order_completed")
    planned = {o.id: o.planned_qty for o in scenario.production_orders}
    assert len(completed) >= 6
    for fact in completed:
        assert fact.details["good_parts"] == planned[fact.details["order_id"]]
    first = {f.subject: f.details["order_id"] for f in truth.of_kind("order_started") if f.time == START}
    assert first["CNC-01"] == "PO-1001" and first["ASSY-02"] == "PO-1016"


def test_offline_histories_run_each_unit_to_failure() -> None:
    rows = list(run_to_failure(20, seed=4, params=FAST_WEAR, sample_s=30))
    assert rows == list(run_to_failure(20, seed=4, params=FAST_WEAR, sample_s=30))
    units = {r.unit for r in rows}
    assert units == set(range(1, 21))
    for unit in units:
        history = [r for r in rows if r.unit == unit]
        assert history[-1].rul_s == 0 and history[-1].health <= FAST_WEAR.failure_threshold
        assert [r.rul_s for r in history] == sorted((r.rul_s for r in history), reverse=True)
        healthy = [r.vibration_rms for r in history if not r.degrading]
        if len(healthy) >= 5:
            assert statistics.mean(r.vibration_rms for r in history[-5:]) > 1.5 * statistics.mean(healthy)
    lengths = {len([r for r in rows if r.unit == u]) for u in units}
    assert len(lengths) > 5, "units must differ in life"


def test_offline_writes_csv(tmp_path) -> None:
    out = tmp_path / "histories.csv"
    count = write_histories(run_to_failure(3, seed=1, params=FAST_WEAR), out)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("unit,cycle,time_s,spindle_temperature")
    assert len(lines) == count + 1


def test_bad_parameters_name_the_field(scenario: Scenario) -> None:
    broken = scenario.model_copy(update={"simulation": {"plant": {"failure_threshold": 1.5}}})
    with pytest.raises(SimulationError, match=r"simulation\.plant\.failure_threshold"):
        simulation_config(broken)
    unknown = scenario.model_copy(update={"simulation": {"plant": {"wear": 1}}})
    with pytest.raises(SimulationError, match=r"simulation\.plant\.wear"):
        simulation_config(unknown)


def test_a_plant_without_machines_is_refused(scenario: Scenario) -> None:
    empty = scenario.model_copy(update={"machines": [], "production_orders": []})
    with pytest.raises(SimulationError, match="no machines"):
        PlantSimulation(empty)
