"""The plant model ``millstream up`` trains on its first start, trained exactly as ``up`` does
(:func:`cli.maintenance.ensure_plant_model`, one thread as in its background thread) and judged on the truth:

- on fresh run-to-failure histories of the demo's machine kinds (other seeds than the recipe's), through the
  flow's alert rule and lifecycle (:func:`models.evaluation.evaluate_plant`): >= 90 % of failures alerted, median
  lead >= 20 % of the degradation span, <= 1 false alert per machine-week — also when the flow starts watching
  each machine at a random point of its life (after a restart), with a window that fills up from empty;
- its failure risk is calibrated (Brier score on those histories better than the classifier's own probabilities);
- on the demo plant as ``up --speed 10`` plays it (machines of every age, OPC-UA-like readings of changed values,
  the flow's windows, micro-batched scoring and alert lifecycle): an alert before each failure, and not one score
  the same for every machine.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss
from threadpoolctl import threadpool_limits

from cli import maintenance as start
from millstream.alert_lifecycle import AlertLifecycle
from millstream.maintenance.rules import alert_rule, risk_condition
from millstream.maintenance.windows import MachineWindows
from millstream.masterdata import read_scenario
from millstream.settings import MaintenanceSettings, Settings, load_settings
from models.artifact import Registry, load_model, read_metadata
from models.datasets import PLANT, Histories, load_plant
from models.evaluation import evaluate_plant
from models.model import MaintenanceModel, unit_features
from models.scoring import ModelHolder, score_batch
from models.training import TrainOptions
from simulators.clock import run_scenario
from simulators.config import simulation_config
from simulators.groundtruth import GroundTruth
from simulators.plant.offline import run_to_failure, write_histories
from simulators.plant.readings import changed_readings
from simulators.plant.simulation import PlantSimulation
from tests.helpers.paths import DEMO

pytestmark = pytest.mark.slow

TARGET = {"share_alerted": 0.9, "lead_share": 0.2, "false_per_week": 1.0}


def _settings(registry: Path) -> Settings:
    return load_settings(maintenance={"model_registry": str(registry)})


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, MaintenanceModel, dict[str, object], float]:
    root = tmp_path_factory.mktemp("start-model") / "models"
    began = time.perf_counter()
    with threadpool_limits(1):
        start.ensure_plant_model(_settings(root), DEMO)
    took = time.perf_counter() - began
    registry = Registry(root)
    promoted = registry.promoted("plant")
    assert promoted is not None
    model, meta = load_model(promoted, "plant")
    print(f"\nup-start plant model: trained and promoted in {took:.1f} s; CV {meta['cv']}")
    return registry, model, meta, took


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Histories:
    """Run-to-failure histories of the demo's machine kinds with its physics, seeds the recipe never used."""
    scenario = read_scenario(DEMO)
    kinds = sorted({m.kind for m in scenario.machines})
    params = simulation_config(scenario).plant
    out = tmp_path_factory.mktemp("fresh") / "truth.csv"
    write_histories(itertools.chain.from_iterable(run_to_failure(20, seed=2, params=params, kind=k) for k in kinds),
                    out)
    return load_plant(out)


def _meets_targets(result: dict[str, object]) -> None:
    assert result["share_alerted"] >= TARGET["share_alerted"], result
    assert result["median_lead_share_of_degradation"] >= TARGET["lead_share"], result  # type: ignore[operator]
    assert result["false_alerts_per_machine_week"] <= TARGET["false_per_week"], result  # type: ignore[operator]


def test_the_first_start_trains_the_recipe_model_in_seconds(trained) -> None:
    _, _, meta, took = trained
    assert meta["recipe"] == start.RECIPE
    assert meta["cv"]["units"] == start.RECIPE_UNITS * 3  # type: ignore[index]
    assert took < 60, f"training at start took {took:.0f} s"


def test_it_meets_the_targets_on_fresh_histories_of_the_demo_machines(trained, fresh: Histories) -> None:
    _, model, _, _ = trained
    result = evaluate_plant(model, fresh, MaintenanceSettings())
    print(f"\nfresh histories: {result}")
    assert result["n_failures"] == 60
    _meets_targets(result)


def test_it_meets_the_targets_when_the_flow_starts_watching_mid_life(trained, fresh: Histories) -> None:
    _, model, _, _ = trained
    rng = np.random.default_rng(9)
    rows = []
    for _, unit in fresh.unit_slices():
        # anywhere from new to 45 min (the horizon) + 10 samples before the failure: time left to warn
        last = unit.stop - unit.start - int(PLANT.horizon * 60) - 10
        rows.append(np.arange(unit.start + int(rng.integers(0, max(1, last))), unit.stop))
    late = fresh.subset(np.concatenate(rows))
    result = evaluate_plant(model, late, MaintenanceSettings())
    print(f"\nwatched from a random point of life: {result}")
    _meets_targets(result)


def test_the_failure_risk_is_calibrated_on_machines_it_never_saw(trained, fresh: Histories) -> None:
    _, model, meta, _ = trained
    signals = [fresh.kind.signals.index(s) for s in model.spec.signals]
    x = unit_features(fresh, model.spec, model.normaliser, signals)
    failing = (fresh.rul <= fresh.kind.horizon).astype(int)
    calibrated = brier_score_loss(failing, model.classifier.predict_proba(x)[:, 1])
    raw = brier_score_loss(failing, model.classifier.base.predict_proba(x)[:, 1])
    print(f"\nBrier on fresh histories: calibrated {calibrated:.4f}, raw {raw:.4f}; "
          f"CV calibrated {meta['cv']['cv_horizon_brier_calibrated']}")  # type: ignore[index]
    assert calibrated < raw
    assert calibrated < 0.02
    p = model.classifier.predict_proba(x)[:, 1]
    assert np.mean((p > 0.05) & (p < 0.95)) > 0.02, "risk rises through the middle, not from 0.001 to 0.999"


def test_on_the_demo_plant_as_up_plays_it_every_failure_is_alerted_first(trained) -> None:
    registry, _, _, _ = trained
    scenario = read_scenario(DEMO)
    origin = run_scenario(scenario, scenario.epoch).epoch or scenario.epoch
    assert origin is not None
    truth = GroundTruth()
    plant = PlantSimulation(run_scenario(scenario, origin), seed=0, truth=truth)  # up's default seed and physics
    ms = MaintenanceSettings()
    windows = {m.id: MachineWindows(m.id, m.kind, PLANT.signals, 60.0, PLANT.window, ms.allowed_lateness_s,
                                    ms.score_every_s) for m in scenario.machines}
    due = []
    for reading in changed_readings(plant, origin, 5.0, int(3 * 3600 / 5.0)):  # --speed 10: 5 s steps, 3 h
        due += windows[reading.machine_id].on_reading(reading)
    scores = score_batch(ModelHolder(registry, "plant"), due, PLANT.signals)
    assert scores and all(s.confidence == "high" for s in scores)
    first = {}
    for s in scores:
        first.setdefault(s.machine_id, s)
    assert len({round(s.health) for s in first.values()}) > 1, "the machines start at different stages of wear"
    opened: dict[str, list] = {}
    rule = alert_rule(ms)
    for machine in windows:
        lifecycle, track = AlertLifecycle(rule), None
        for s in (s for s in scores if s.machine_id == machine):
            track, changes = lifecycle(track, risk_condition(s))
            opened.setdefault(machine, []).extend(a.opened_at for a in changes if a.trigger_count == 1
                                                  and a.opened_at == s.at and a.state == "open")
    failures = truth.of_kind("failure")
    assert failures, "the demo's machines fail within its first three simulated hours"
    for failure in failures:
        onset = max(f.time for f in truth.of_kind("degradation_onset")
                    if f.subject == failure.subject and f.time < failure.time)
        before = [t for t in opened.get(failure.subject, []) if onset <= t < failure.time]
        assert before, f"{failure.subject} failed at {failure.time} without an alert since its onset at {onset}"
        print(f"\n{failure.subject}: alert {(failure.time - before[0]).total_seconds() / 60:.0f} min before "
              f"its failure at +{(failure.time - origin).total_seconds() / 3600:.2f} h")


def test_an_earlier_starts_model_of_another_recipe_is_replaced(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(start, "RECIPE_UNITS", 3)
    monkeypatch.setattr(start, "RECIPE_OPTIONS", TrainOptions(search=1, folds=3, max_iter=10, importance_rows=100))
    settings = _settings(tmp_path / "models")
    start.ensure_plant_model(settings, DEMO)
    registry = Registry(tmp_path / "models")
    first = registry.promoted("plant")
    assert first is not None
    start.ensure_plant_model(settings, DEMO)
    assert registry.promoted("plant") == first, "the recipe's model is kept"
    meta_file = first / "metadata.json"
    meta = read_metadata(first)
    del meta["recipe"]  # as an earlier version's start left it
    meta_file.write_text(__import__("json").dumps(meta))
    time.sleep(1.1)  # model ids have a one-second resolution
    start.ensure_plant_model(settings, DEMO)
    replaced = registry.promoted("plant")
    assert replaced is not None and replaced != first
    assert read_metadata(replaced)["recipe"] == start.RECIPE
