"""Training on C-MAPSS and evaluating as the literature does, through the CLI.

The official test split is not in the repository. The test/RUL pair used here is CONSTRUCTED from held-out
training units (26-30 of FD001, never trained on): each is truncated at a seeded random cycle and its RUL
file holds the cycles it really had left.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from models.artifact import ModelError, Registry, load_model, read_metadata
from models.datasets import DatasetError, load_cmapss_test
from tests.helpers.paths import ROOT

DATA = ROOT / "tests" / "data" / "cmapss" / "train_FD001_units1-30.txt"
runner = CliRunner()


def _split(tmp: Path) -> tuple[Path, Path, Path, dict[int, int]]:
    rows = [line.split() for line in DATA.read_text().splitlines() if line.strip()]
    train = tmp / "train_units1-25.txt"
    train.write_text("\n".join(" ".join(r) for r in rows if int(r[0]) <= 25) + "\n")
    rng = np.random.default_rng(7)
    test_lines, ruls = [], {}
    for unit in range(26, 31):
        unit_rows = [r for r in rows if int(r[0]) == unit]
        cut = int(rng.integers(40, len(unit_rows) - 5))
        test_lines += [" ".join(r) for r in unit_rows[:cut]]
        ruls[unit] = len(unit_rows) - cut
    test, rul = tmp / "test_constructed.txt", tmp / "RUL_constructed.txt"
    test.write_text("\n".join(test_lines) + "\n")
    rul.write_text("".join(f"{ruls[u]}\n" for u in sorted(ruls)))
    return train, test, rul, ruls


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, dict[int, int]]:
    tmp = tmp_path_factory.mktemp("cmapss")
    train, test, rul, ruls = _split(tmp)
    out = tmp / "model"
    result = runner.invoke(app, ["train", "--dataset", "cmapss", str(train), "--out", str(out), "--search", "2",
                                 "--folds", "3", "--max-iter", "120"])
    assert result.exit_code == 0, result.output
    assert "test-like RMSE" in result.output and "interval coverage" in result.output
    return out, test, rul, ruls


@pytest.mark.slow
def test_training_writes_a_versioned_artifact(trained: tuple[Path, Path, Path, dict[int, int]]) -> None:
    out = trained[0]
    meta = read_metadata(out)
    assert {"model.joblib", "metadata.json", "report.png"} <= {p.name for p in out.iterdir()}
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(meta["training_data_sha256"]) == 64 and meta["dataset"] == "cmapss"
    assert "s11__drift" in meta["features"] and "cycle" in meta["features"]
    assert "s1__mean" not in meta["features"]  # a constant sensor is dropped
    cv = meta["cv"]
    assert cv["units"] == 25 and cv["folds"] == 3 and len(cv["search"]) == 2
    assert 0 < cv["cv_rmse_capped"] < 30  # a model that learned something (a constant predictor is ~40)
    assert 0.75 <= cv["interval_coverage_measured"] <= 1.0


@pytest.mark.slow
def test_evaluate_scores_each_test_unit_at_its_last_cycle(trained: tuple[Path, Path, Path, dict[int, int]]) -> None:
    out, test, rul, ruls = trained
    result = runner.invoke(app, ["evaluate", "--dataset", "cmapss", "--model", str(out), "--test", str(test),
                                 "--rul", str(rul), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"rmse", "phm08_score", "n_units", "predictions"}
    assert report["n_units"] == 5
    assert [p["unit"] for p in report["predictions"]] == sorted(ruls)
    assert [p["true"] for p in report["predictions"]] == [float(ruls[u]) for u in sorted(ruls)]
    d = np.array([p["predicted"] - p["true"] for p in report["predictions"]])
    assert report["rmse"] == pytest.approx(np.sqrt(np.mean(d**2)), abs=0.01)
    expected_phm = np.sum(np.where(d < 0, np.exp(-d / 13) - 1, np.exp(d / 10) - 1))
    assert report["phm08_score"] == pytest.approx(expected_phm, rel=1e-3, abs=0.05)
    assert report["rmse"] < 40


@pytest.mark.slow
def test_a_model_from_other_code_is_refused(trained: tuple[Path, Path, Path, dict[int, int]],
                                            tmp_path: Path) -> None:
    out = trained[0]
    copy = tmp_path / "old"
    copy.mkdir()
    for f in out.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    meta = json.loads((copy / "metadata.json").read_text())
    meta["sklearn_version"] = "0.24.2"
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"scikit-learn 0\.24\.2.*retrain"):
        load_model(copy)
    result = runner.invoke(app, ["evaluate", "--dataset", "cmapss", "--model", str(copy), "--test", str(trained[1]),
                                 "--rul", str(trained[2])])
    assert result.exit_code == 1 and "does not match this code" in result.output
    with pytest.raises(ModelError, match="not a plant one"):
        load_model(out, "plant")


@pytest.mark.slow
def test_registry_promotes_lists_and_shows(trained: tuple[Path, Path, Path, dict[int, int]], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from millstream.settings import get_settings

    monkeypatch.setenv("MILLSTREAM_MAINTENANCE__MODEL_REGISTRY", str(tmp_path / "registry"))
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["models", "promote", str(trained[0])])
        assert result.exit_code == 0, result.output
        model_id = read_metadata(trained[0])["model_id"]
        listed = runner.invoke(app, ["models", "list"])
        assert f"* {model_id}" in listed.output
        shown = runner.invoke(app, ["models", "show", model_id])
        assert json.loads(shown.output)["model_id"] == model_id
        assert Registry(tmp_path / "registry").promoted("cmapss") == tmp_path / "registry" / model_id
        assert runner.invoke(app, ["models", "promote", "no-such-model"]).exit_code == 1
    finally:
        get_settings.cache_clear()


def test_a_malformed_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "test.txt"
    bad.write_text("1 1 0 0 100 " + " ".join(["1.0"] * 21) + "\n1 2 0 0 100 1.0\n")
    rul = tmp_path / "rul.txt"
    rul.write_text("10\n")
    with pytest.raises(DatasetError, match=r"test.txt:2: expected 26"):
        load_cmapss_test(bad, rul)
    good = tmp_path / "good.txt"
    good.write_text("1 1 0 0 100 " + " ".join(["1.0"] * 21) + "\n")
    rul.write_text("10\n20\n")
    with pytest.raises(DatasetError, match=r"2 RUL values but .* 1 units"):
        load_cmapss_test(good, rul)
