"""Model artifacts on disk and the model registry.

An artifact is a directory: ``model.joblib`` (the :class:`~models.model.MaintenanceModel`), ``metadata.json``
(model id, dataset, feature list and spec, scikit-learn/numpy versions, feature-code version, training-data
hash, CV metrics, created time) and ``report.png``. :func:`load_model` refuses, with one clear
:class:`ModelError`, an artifact whose metadata does not match the running code (another scikit-learn, other
features) — scoring with it would silently be wrong.

The registry (``settings.maintenance.model_registry``) holds artifacts by model id and, per dataset, which
one is promoted (``promoted.json``); the streaming flow scores with the promoted model and picks up a newly
promoted one without a restart.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn

from millstream.errors import MillstreamError
from models.features import FEATURES_VERSION, feature_names
from models.model import MaintenanceModel

__all__ = ["ModelError", "Registry", "load_model", "read_metadata", "save_model"]

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
REPORT_FILE = "report.png"
_PROMOTED = "promoted.json"


class ModelError(MillstreamError):
    """A model artifact is missing, damaged or does not match the running code."""


def save_model(model: MaintenanceModel, out: str | Path, *, dataset_hash: str, metrics: dict[str, Any],
               source: str, recipe: str | None = None) -> dict[str, Any]:
    """Write the artifact to ``out`` (created; files replaced); returns the metadata (with ``recipe``, the name
    of the training recipe that made it, when given)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    created = datetime.now(UTC)
    metadata = {
        "model_id": f"{model.kind.name}-{created:%Y%m%dT%H%M%S}-{dataset_hash[:8]}",
        "dataset": model.kind.name,
        "source": source,
        "created_at": created.isoformat(),
        "features": model.feature_names,
        "feature_spec": model.spec.as_dict(),
        "features_version": FEATURES_VERSION,
        "rul_unit": model.kind.rul_unit,
        "rul_cap": model.kind.rul_cap,
        "horizon": model.kind.horizon,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "training_data_sha256": dataset_hash,
        "params": model.params,
        "cv": metrics,
    }
    if recipe is not None:
        metadata["recipe"] = recipe
    joblib.dump(model, out / MODEL_FILE)
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata


def read_metadata(path: str | Path) -> dict[str, Any]:
    file = Path(path) / METADATA_FILE
    try:
        data: dict[str, Any] = json.loads(file.read_text())
    except FileNotFoundError:
        msg = f"{path} is not a model: no {METADATA_FILE} (train one with `millstream train`)"
        raise ModelError(msg) from None
    except json.JSONDecodeError as exc:
        msg = f"{file} is damaged: {exc}"
        raise ModelError(msg) from None
    return data


def load_model(path: str | Path, dataset: str | None = None) -> tuple[MaintenanceModel, dict[str, Any]]:
    """Load an artifact, refusing one whose metadata does not match the running code."""
    metadata = read_metadata(path)
    problems = []
    if metadata.get("sklearn_version") != sklearn.__version__:
        problems.append(f"trained with scikit-learn {metadata.get('sklearn_version')}, this is {sklearn.__version__}")
    if metadata.get("features_version") != FEATURES_VERSION:
        problems.append(f"feature code version {metadata.get('features_version')}, this is {FEATURES_VERSION}")
    if dataset is not None and metadata.get("dataset") != dataset:
        problems.append(f"a {metadata.get('dataset')} model, not a {dataset} one")
    if problems:
        msg = f"model {metadata.get('model_id', path)} does not match this code: {'; '.join(problems)}; retrain it"
        raise ModelError(msg)
    try:
        model = joblib.load(Path(path) / MODEL_FILE)
    except FileNotFoundError:
        msg = f"{path}: no {MODEL_FILE}"
        raise ModelError(msg) from None
    except Exception as exc:
        msg = f"{path}/{MODEL_FILE} cannot be loaded: {type(exc).__name__}: {exc}"
        raise ModelError(msg) from None
    if not isinstance(model, MaintenanceModel) or feature_names(model.spec) != metadata.get("features"):
        msg = f"model {metadata.get('model_id')}: its features do not match its metadata; retrain it"
        raise ModelError(msg)
    return model, metadata


@dataclass(frozen=True)
class Registry:
    """A directory of model artifacts by id, with the promoted model per dataset."""

    root: Path

    def _promoted(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads((self.root / _PROMOTED).read_text())
            return data
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def list(self) -> list[dict[str, Any]]:
        """Metadata of every artifact, newest first, each with ``promoted`` (bool) and ``path``."""
        promoted = set(self._promoted().values())
        out = []
        if self.root.is_dir():
            for path in sorted(self.root.iterdir()):
                if (path / METADATA_FILE).is_file():
                    meta = read_metadata(path)
                    out.append({**meta, "path": str(path), "promoted": meta.get("model_id") in promoted})
        return sorted(out, key=lambda m: m.get("created_at", ""), reverse=True)

    def path_of(self, model_id: str) -> Path:
        path = self.root / model_id
        if not (path / METADATA_FILE).is_file():
            msg = f"no model {model_id!r} in the registry {self.root}"
            raise ModelError(msg)
        return path

    def add(self, artifact: str | Path) -> str:
        """Copy an artifact directory into the registry (by its model id); returns the id."""
        meta = read_metadata(artifact)
        model_id = str(meta["model_id"])
        target = self.root / model_id
        if not target.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".adding-"))
            shutil.copytree(artifact, tmp, dirs_exist_ok=True)
            tmp.rename(target)
        return model_id

    def promote(self, artifact_or_id: str | Path) -> dict[str, Any]:
        """Make a model (a registry id or an artifact directory, added first) the promoted one of its dataset."""
        path = Path(artifact_or_id)
        model_id = self.add(path) if (path / METADATA_FILE).is_file() else str(artifact_or_id)
        target = self.path_of(model_id)
        load_model(target)  # refuse to promote what the flow would refuse to load
        meta = read_metadata(target)
        promoted = self._promoted()
        promoted[str(meta["dataset"])] = model_id
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{_PROMOTED}.tmp"
        tmp.write_text(json.dumps(promoted, indent=2) + "\n")
        os.replace(tmp, self.root / _PROMOTED)
        return meta

    def promoted(self, dataset: str) -> Path | None:
        """The promoted artifact of ``dataset``, or None."""
        model_id = self._promoted().get(dataset)
        return None if model_id is None else self.root / model_id
