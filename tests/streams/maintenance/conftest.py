"""A small plant model trained once per session on offline run-to-failure histories, promoted in a registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.artifact import Registry, save_model
from models.datasets import load_plant
from models.training import TrainOptions, train
from simulators.plant.offline import run_to_failure, write_histories


@pytest.fixture(scope="session")
def plant_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A trained plant model artifact (lathe and mill histories, small and quick)."""
    tmp = tmp_path_factory.mktemp("plant_model")
    data = tmp / "train.csv"
    rows = [*run_to_failure(10, seed=11, kind="lathe"), *run_to_failure(6, seed=12, kind="mill")]
    write_histories(iter(rows), data)
    result = train(load_plant(data), TrainOptions(search=1, folds=3, importance_rows=300, max_iter=60))
    out = tmp / "artifact"
    save_model(result.model, out, dataset_hash="0" * 64, metrics=result.metrics, source=str(data))
    yield out


@pytest.fixture
def registry(plant_model: Path, tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "registry")
    reg.promote(plant_model)
    return reg




