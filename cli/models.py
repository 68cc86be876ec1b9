"""``millstream train``, ``millstream evaluate`` and ``millstream models list|promote|show``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.common import console, fail, settings
from millstream.errors import MillstreamError
from models.artifact import REPORT_FILE, Registry, load_model, read_metadata, save_model
from models.datasets import data_hash, load_cmapss_test, load_histories, load_plant
from models.evaluation import evaluate_cmapss, evaluate_plant
from models.report import write_report
from models.training import TrainOptions, train

__all__ = ["app", "evaluate_command", "train_command", "train_model"]

app = typer.Typer(help="The model registry: list, promote and show maintenance models.", no_args_is_help=True)

DatasetArg = typer.Option(..., "--dataset", help="cmapss (NASA C-MAPSS files) or plant (simulate plant --offline).")


def train_model(dataset: str, path: Path, out: Path, options: TrainOptions,
                progress: Callable[[str, int, int], None] | None = None, recipe: str | None = None) -> dict[str, Any]:
    """Train with a progress bar (or ``progress(step, done, total)``), write the artifact and report; returns
    the metadata (``recipe``: the name of the training recipe, kept in it)."""
    histories = load_histories(dataset, path)
    if progress is not None:
        result = train(histories, options, progress)
    else:
        with Progress(TextColumn("[bold]training[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=False) as bar:
            task = bar.add_task("features", total=None)

            def step(what: str, done: int, total: int) -> None:
                bar.update(task, description=what, completed=done, total=total)

            result = train(histories, options, step)
    metadata = save_model(result.model, out, dataset_hash=data_hash(path), metrics=result.metrics,
                          source=str(path), recipe=recipe)
    write_report(out / REPORT_FILE, result.model, result.oof, result.target, result.metrics)
    return metadata


def train_command(
    path: Path = typer.Argument(..., help="Training file: train_FDxxx.txt, or an offline plant history."),
    dataset: str = DatasetArg,
    out: Path = typer.Option(..., "--out", help="Artifact directory (model.joblib, metadata.json, report.png)."),
    search: int = typer.Option(6, "--search", min=1, max=50, help="Hyper-parameter settings tried (bounded)."),
    folds: int = typer.Option(5, "--folds", min=2, max=20, help="Unit-grouped CV folds."),
    seed: int = typer.Option(0, "--seed"),
    max_iter: int | None = typer.Option(None, "--max-iter", min=10, help="Cap boosting iterations (a quick model)."),
) -> None:
    """Train a remaining-useful-life model and a failure-within-horizon classifier, with unit-grouped CV."""
    try:
        meta = train_model(dataset, path, out, TrainOptions(search=search, folds=folds, seed=seed,
                                                                   max_iter=max_iter))
    except MillstreamError as exc:
        fail(str(exc))
    cv = meta["cv"]
    console.print(f"model {meta['model_id']} written to {out}", highlight=False)
    console.print(f"unit-grouped {cv['folds']}-fold CV on {cv['units']} units: RMSE {cv['cv_rmse_capped']} "
                  f"(capped target), test-like RMSE {cv['cv_test_like_rmse']} / PHM08 {cv['cv_test_like_phm08']} "
                  f"per 100 units, interval coverage {cv['interval_coverage_measured']:.1%} "
                  f"(target {cv['interval_coverage_target']:.0%})", highlight=False)
    console.print(f"report: {out / REPORT_FILE}; promote it with `millstream models promote {out}`",
                  highlight=False)


def evaluate_command(
    dataset: str = DatasetArg,
    model_dir: Path = typer.Option(..., "--model", help="Model artifact directory."),
    test: Path | None = typer.Option(None, "--test", help="cmapss: test_FDxxx.txt."),
    rul: Path | None = typer.Option(None, "--rul", help="cmapss: RUL_FDxxx.txt (one RUL per test unit)."),
    truth: Path | None = typer.Option(None, "--truth", help="plant: run-to-failure histories with ground truth."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Score a model: C-MAPSS test pair (RMSE, PHM08 at each unit's last cycle), or plant alerts vs truth."""
    try:
        model, meta = load_model(model_dir, dataset)
        if dataset == "cmapss":
            if test is None or rul is None:
                fail("--dataset cmapss needs --test TEST and --rul RUL")
            result = evaluate_cmapss(model, load_cmapss_test(test, rul))
        elif dataset == "plant":
            if truth is None:
                fail("--dataset plant needs --truth FILE (offline histories: simulate plant --offline)")
            result = evaluate_plant(model, load_plant(truth), settings().maintenance)
        else:
            fail(f"unknown dataset {dataset!r}: use cmapss or plant")
    except MillstreamError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(result))
        return
    summary = {k: v for k, v in result.items() if k != "predictions"}
    console.print(f"model {meta['model_id']}: " + ", ".join(f"{k} {v}" for k, v in summary.items()),
                  highlight=False)


def _registry() -> Registry:
    return Registry(settings().maintenance.model_registry)


@app.command("list")
def list_models() -> None:
    """The models in the registry, newest first (* = promoted)."""
    rows = _registry().list()
    if not rows:
        console.print(f"no models in {_registry().root}; train one with `millstream train`")
        return
    for m in rows:
        cv = m.get("cv", {})
        console.print(f"{'*' if m['promoted'] else ' '} {m['model_id']}  {m['dataset']}  {m['created_at'][:19]}  "
                      f"CV RMSE {cv.get('cv_rmse_capped')}  test-like RMSE {cv.get('cv_test_like_rmse')}  "
                      f"interval coverage {cv.get('interval_coverage_measured')}", highlight=False, soft_wrap=True)


@app.command("promote")
def promote(model: str = typer.Argument(..., help="An artifact directory, or a model id in the registry.")) -> None:
    """Make a model the one the maintenance flow scores with (picked up without a restart)."""
    try:
        meta = _registry().promote(model)
    except MillstreamError as exc:
        fail(str(exc))
    console.print(f"promoted {meta['model_id']} for {meta['dataset']}", highlight=False)


@app.command("show")
def show(model: str = typer.Argument(..., help="An artifact directory, or a model id in the registry.")) -> None:
    """A model's metadata (features, versions, CV metrics) as JSON."""
    try:
        path = Path(model) if Path(model, "metadata.json").is_file() else _registry().path_of(model)
        typer.echo(json.dumps(read_metadata(path), indent=2))
    except MillstreamError as exc:
        fail(str(exc))
