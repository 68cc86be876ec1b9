"""``millstream maintenance``: machine health scores, alerts and ERP maintenance notifications from readings."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import typer
from bytewax.dataflow import Dataflow
from threadpoolctl import threadpool_limits

from cli.common import console, fail
from cli.flows import (
    FlowOptions,
    Follow,
    FromBeginning,
    MetricsPort,
    RecoveryDir,
    SnapshotInterval,
    Workers,
    run_pipeline,
)
from cli.models import train_model
from millstream.errors import MillstreamError
from millstream.masterdata import Scenario, read_scenario
from millstream.settings import Settings
from models.artifact import ModelError, Registry, load_model
from models.training import TrainOptions
from simulators.config import simulation_config
from simulators.plant.offline import HistoryRow, run_to_failure, write_histories
from streams.maintenance import build_flow

#: The plant model a first start trains (``millstream up``: ``--train-if-missing``) is the recipe's model, not a
#: stand-in: run-to-failure histories of every machine kind of the scenario, simulated with its plant physics,
#: and the training below. The same model comes from ``millstream simulate plant --offline --units 20 --kind
#: <the scenario's kinds> --seed 7 --out F`` and ``millstream train --dataset plant F --search 1 --folds 3
#: --max-iter 100``; its figures are in docs/maintenance.md (about 10 s of training on one core).
RECIPE = "plant-start-2"
RECIPE_UNITS = 20  # run-to-failure histories per machine kind
RECIPE_SEED = 7
RECIPE_OPTIONS = TrainOptions(search=1, folds=3, max_iter=100, importance_rows=500)


def recipe_histories(scenario: Scenario) -> tuple[list[str], Iterator[HistoryRow]]:
    """The recipe's training histories for ``scenario``: its machine kinds and their run-to-failure rows."""
    kinds = sorted({m.kind for m in scenario.machines}) or ["lathe"]
    params = simulation_config(scenario).plant
    return kinds, itertools.chain.from_iterable(
        run_to_failure(RECIPE_UNITS, seed=RECIPE_SEED, params=params, kind=k) for k in kinds)


def _usable_model(registry: Registry) -> bool:
    """A plant model is promoted that the flow can load, and it is not an earlier start's model of an older
    recipe (replaced: earlier versions trained a smaller, uncalibrated model whose kinds shared wear histories)."""
    promoted = registry.promoted("plant")
    if promoted is None:
        return False
    try:
        _, meta = load_model(promoted, "plant")
    except ModelError:
        return False
    from_a_start = str(meta.get("source", "")).startswith(str(registry.root / "bootstrap"))
    return not from_a_start or meta.get("recipe") == RECIPE


def ensure_plant_model(config: Settings, scenario_file: Path) -> None:
    """When no usable plant model is promoted: simulate the recipe's run-to-failure histories of the
    scenario's machine kinds with its plant physics, train the recipe's model (progress as log lines) and
    promote it."""
    registry = Registry(config.maintenance.model_registry)
    if config.maintenance.dataset != "plant" or _usable_model(registry):
        return
    scenario = read_scenario(scenario_file)
    work = registry.root / "bootstrap"
    work.mkdir(parents=True, exist_ok=True)
    data = work / "plant-histories.csv"
    started = time.monotonic()
    kinds, histories = recipe_histories(scenario)
    rows = write_histories(histories, data)
    console.print(f"maintenance: no usable plant model promoted; training the {RECIPE} model on {rows} simulated "
                  f"samples of {RECIPE_UNITS * len(kinds)} run-to-failure histories ({', '.join(kinds)})",
                  highlight=False)
    last = [-1]

    def step(what: str, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent // 20 != last[0]:
            last[0] = percent // 20
            console.print(f"maintenance: training {percent}% ({what}, step {done}/{total})", highlight=False)

    meta = train_model("plant", data, work / "model", RECIPE_OPTIONS, progress=step, recipe=RECIPE)
    registry.promote(work / "model")
    cv = meta["cv"]
    console.print(f"maintenance: promoted {meta['model_id']} after {time.monotonic() - started:.0f} s (CV RMSE "
                  f"{cv['cv_rmse_capped']} h, horizon AUC {cv['cv_horizon_auc']}, calibrated Brier "
                  f"{cv['cv_horizon_brier_calibrated']}, interval coverage {cv['interval_coverage_measured']:.0%}); "
                  "the flow picks it up now", highlight=False)


def _train_in_background(config: Settings, scenario_file: Path) -> None:
    """Train the first model beside the running flow (which picks it up once promoted)."""

    def work() -> None:
        try:
            # In the background for real: lowest CPU priority for this thread, one core for its predicts/fits.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            with threadpool_limits(1):
                ensure_plant_model(config, scenario_file)
        except MillstreamError as exc:
            console.print(f"maintenance: could not train a first plant model: {exc}", highlight=False)

    threading.Thread(target=work, name="first-plant-model", daemon=True).start()


def maintenance(
    follow: Follow = True,
    workers: Workers = 1,
    recovery_dir: RecoveryDir = None,
    from_beginning: FromBeginning = False,
    snapshot_interval: SnapshotInterval = 10.0,
    metrics_port: MetricsPort = None,
    train_if_missing: Path | None = typer.Option(
        None, "--train-if-missing", help="Scenario file: when no usable plant model is promoted, train the recipe's "
                                         "model from its plant physics beside the running flow (millstream up "
                                         "does this; about 10 s)."),
) -> None:
    """Score machine health from telemetry.readings; alerts and ERP maintenance notifications on risk.

    Scores with the model promoted in the registry (`millstream models promote`), picking up a newly
    promoted one without a restart. Resumes where the last run stopped; sinks are idempotent, so a restart
    adds no duplicate score, alert or ERP record.
    """

    def build(config: Settings) -> Dataflow:
        try:
            if train_if_missing is not None:
                read_scenario(train_if_missing)  # a bad file is one clear error before the flow starts
                _train_in_background(config, train_if_missing)
            flow = build_flow(config, follow=follow)
        except MillstreamError as exc:
            fail(str(exc))
        registry = Registry(config.maintenance.model_registry)
        promoted = registry.promoted(config.maintenance.dataset)
        waiting = "training one now" if train_if_missing is not None else "promote one"
        model = promoted.name if promoted else f"none promoted yet in {registry.root} ({waiting}; windows " \
                                               "are counted as unscored until then)"
        console.print(f"maintenance: {config.maintenance.dataset} model {model}", highlight=False)
        return flow

    run_pipeline("maintenance", build,
                 FlowOptions(follow, workers, recovery_dir, from_beginning, snapshot_interval, metrics_port))
