"""``millstream simulate plant --offline``, ``millstream train --dataset plant`` and ``millstream evaluate
--dataset plant --json`` as a user runs them (in-process through the command line, a few small histories and a
quick model): an artifact with its CV figures, and an alert evaluation whose numbers fit the ground truth."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from millstream.settings import get_settings
from tests.helpers.paths import DEMO


def run(*args: str) -> Result:
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    finally:
        get_settings.cache_clear()


def simulate(out: Path, units: int, seed: int) -> Result:
    return run("simulate", "plant", "--scenario", str(DEMO), "--offline", "--units", str(units),
               "--kind", "lathe,mill", "--seed", str(seed), "--out", str(out))


@pytest.mark.slow
def test_train_then_evaluate_a_plant_model_through_the_cli(tmp_path: Path) -> None:
    train_file, truth_file, model = tmp_path / "train.csv", tmp_path / "truth.csv", tmp_path / "model"
    made = simulate(train_file, 4, seed=1)
    assert made.exit_code == 0, made.output
    assert "8 run-to-failure histories" in made.stdout
    made = simulate(truth_file, 2, seed=2)
    assert made.exit_code == 0, made.output

    trained = run("train", "--dataset", "plant", str(train_file), "--out", str(model),
                  "--search", "1", "--folds", "2", "--max-iter", "10")
    assert trained.exit_code == 0, trained.output
    assert f"written to {model}" in trained.stdout and "test-like RMSE" in trained.stdout
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["dataset"] == "plant"
    assert meta["cv"]["units"] == 8 and meta["cv"]["folds"] == 2
    assert 0 < meta["cv"]["cv_rmse_capped"] < 3.0  # hours; the plant RUL cap is 3 h
    assert 0.5 <= meta["cv"]["interval_coverage_measured"] <= 1.0

    evaluated = run("evaluate", "--dataset", "plant", "--model", str(model), "--truth", str(truth_file), "--json")
    assert evaluated.exit_code == 0, evaluated.output
    result = json.loads(evaluated.stdout)
    assert {"n_failures", "alerted_before_failure", "share_alerted", "median_lead_hours",
            "median_lead_share_of_degradation", "false_alerts", "machine_weeks", "false_alerts_per_machine_week",
            "rule"} <= result.keys()

    # the ground truth, read independently: 4 machines run to failure, their running time
    with truth_file.open() as file:
        ends: dict[tuple[str, str], float] = {}
        for row in csv.DictReader(file):
            key = (row["kind"], row["unit"])
            ends[key] = max(ends.get(key, 0.0), float(row["time_s"]))
    assert result["n_failures"] == len(ends) == 4
    assert 0 <= result["alerted_before_failure"] <= result["n_failures"]
    assert result["share_alerted"] == round(result["alerted_before_failure"] / result["n_failures"], 4)
    assert abs(result["machine_weeks"] - sum(ends.values()) / (7 * 24 * 3600)) <= 0.0006  # rounded to 3 places
    assert result["false_alerts"] >= 0
    if result["alerted_before_failure"]:
        assert 0 < result["median_lead_hours"] <= max(ends.values()) / 3600
        assert 0 < result["median_lead_share_of_degradation"] <= 1.0
    assert result["rule"]["raise_above"] > result["rule"]["clear_below"]
