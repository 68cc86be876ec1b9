"""``millstream maintenance``: machine health scores, alerts and ERP maintenance notifications from readings."""

from __future__ import annotations

import itertools
import os
import threading
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
from millstream.masterdata import read_scenario
from millstream.settings import Settings
from models.artifact import Registry
from models.training import TrainOptions
from simulators.config import simulation_config
from simulators.plant.offline import run_to_failure, write_histories
from streams.maintenance import build_flow

BOOTSTRAP_UNITS = 10  # run-to-failure histories per machine kind for a first, quick plant model


def ensure_plant_model(config: Settings, scenario_file: Path) -> None:
    """When no plant model is promoted: simulate run-to-failure histories of the scenario's machine kinds with
    its plant physics, train a quick model (progress as log lines) and promote it."""
    registry = Registry(config.maintenance.model_registry)
    if config.maintenance.dataset != "plant" or registry.promoted("plant") is not None:
        return
    scenario = read_scenario(scenario_file)
    kinds = sorted({m.kind for m in scenario.machines}) or ["lathe"]
    work = registry.root / "bootstrap"
    work.mkdir(parents=True, exist_ok=True)
    data = work / "plant-histories.csv"
    params = simulation_config(scenario).plant
    rows = write_histories(itertools.chain.from_iterable(
        run_to_failure(BOOTSTRAP_UNITS, seed=7, params=params, kind=k) for k in kinds), data)
    console.print(f"maintenance: no plant model promoted; training one on {rows} simulated samples of "
                  f"{BOOTSTRAP_UNITS * len(kinds)} run-to-failure histories ({', '.join(kinds)})", highlight=False)
    last = [-1]

    def step(what: str, done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        if percent // 20 != last[0]:
            last[0] = percent // 20
            console.print(f"maintenance: training {percent}% ({what}, step {done}/{total})", highlight=False)

    meta = train_model("plant", data, work / "model", TrainOptions(search=1, folds=3, max_iter=100,
                                                                   importance_rows=500), progress=step)
    registry.promote(work / "model")
    cv = meta["cv"]
    console.print(f"maintenance: promoted {meta['model_id']} (CV RMSE {cv['cv_rmse_capped']} h, interval coverage "
                  f"{cv['interval_coverage_measured']:.0%}); the flow picks it up now", highlight=False)


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
        None, "--train-if-missing", help="Scenario file: when no plant model is promoted, train a quick one from "
                                         "its plant physics beside the running flow (millstream up does this)."),
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
