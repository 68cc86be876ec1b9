"""Scoring machine windows in micro-batches with the promoted model, reloaded when a new one is promoted.

:class:`ModelHolder` keeps the last good model of a dataset from the registry and looks at the registry's
``promoted.json`` at most every ``check_every_s`` seconds: a newly promoted model is loaded and used from the
next batch on, without a restart. A promoted model that is missing or does not match the running code is
reported once (one clear log line) and the flow keeps scoring with the last good model. :func:`score_batch`
turns a batch of :class:`~millstream.maintenance.windows.WindowRequest` into :class:`MaintenanceScore` events with
one vectorised feature computation and one predict per model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from millstream.events.maintenance import MaintenanceScore
from millstream.maintenance.windows import WindowRequest
from millstream.metrics import MAINTENANCE_SCORES, MAINTENANCE_UNSCORED
from models.artifact import ModelError, Registry, load_model
from models.features import window_features
from models.model import MaintenanceModel

__all__ = ["ModelHolder", "features_for", "score_batch"]

logger = logging.getLogger(__name__)


class ModelHolder:
    """The promoted model of ``dataset``, reloaded on promotion; the last good one on failure."""

    def __init__(self, registry: Registry, dataset: str, check_every_s: float = 2.0) -> None:
        self.registry = registry
        self.dataset = dataset
        self.check_every_s = check_every_s
        self.model: MaintenanceModel | None = None
        self.metadata: dict[str, Any] = {}
        self.error: str | None = None
        self._path: Any = None
        self._checked = -float("inf")

    def current(self) -> tuple[MaintenanceModel, dict[str, Any]] | None:
        now = time.monotonic()
        if now - self._checked >= self.check_every_s:
            self._checked = now
            self._refresh()
        return None if self.model is None else (self.model, self.metadata)

    def _refresh(self) -> None:
        path = self.registry.promoted(self.dataset)
        if path is None:
            self._report(f"no {self.dataset} model is promoted in {self.registry.root}: train one "
                         f"(millstream train --dataset {self.dataset} ...) and promote it (millstream models promote)")
            return
        if path == self._path and self.model is not None:
            return
        try:
            model, metadata = load_model(path, self.dataset)
        except ModelError as exc:
            self._path = path if self.model is None else self._path
            kept = f"; still scoring with {self.metadata.get('model_id')}" if self.model is not None else ""
            self._report(f"{exc}{kept}")
            return
        self.model, self.metadata, self._path, self.error = model, metadata, path, None
        logger.warning("maintenance: scoring with model %s", metadata.get("model_id"))

    def _report(self, message: str) -> None:
        if message != self.error:
            logger.error("maintenance: %s", message)
            self.error = message


def features_for(model: MaintenanceModel, requests: Sequence[WindowRequest],
                 signals: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The feature matrix of a batch of windows (raw values normalised per machine condition).

    Returns the features and, per request, whether its condition is known to the model.
    """
    spec = model.spec
    index = np.array([list(signals).index(s) if s in signals else -1 for s in spec.signals])
    n = len(requests)
    raw = np.full((n, spec.length, len(spec.signals)), np.nan)
    base = np.full((n, len(spec.signals)), np.nan)
    present = index >= 0
    for i, r in enumerate(requests):
        rows = min(spec.length, len(r.values))
        raw[i, -rows:, present] = r.values[-rows:, index[present]].T
        base[i, present] = r.baseline[index[present]]
    conditions = np.array([r.condition for r in requests])
    windows = model.normaliser.transform(np.repeat(conditions, spec.length),
                                         raw.reshape(-1, len(spec.signals))).reshape(raw.shape)
    baselines = model.normaliser.transform(conditions, base)
    known = np.array([model.normaliser.known(c) for c in conditions])
    context = None
    if spec.context:
        context = np.array([[np.nan if r.running_hours is None else r.running_hours for _ in spec.context]
                            for r in requests])
    return window_features(windows, spec, context, baselines if spec.baseline else None), known


def score_batch(holder: ModelHolder, requests: Sequence[WindowRequest],
                signals: Sequence[str]) -> list[MaintenanceScore]:
    """Score a micro-batch; without a usable model the windows are counted as unscored."""
    if not requests:
        return []
    current = holder.current()
    if current is None:
        MAINTENANCE_UNSCORED.labels("no_model").inc(len(requests))
        return []
    model, metadata = current
    with threadpool_limits(1):  # one core per flow worker: no OpenMP threads competing for the same core
        features, known = features_for(model, requests, signals)
        scores = model.score(features)
    model_id = str(metadata.get("model_id"))
    MAINTENANCE_SCORES.labels(model_id).inc(len(requests))
    out = []
    for i, r in enumerate(requests):
        missing = tuple(s for s in model.spec.signals if s in r.missing or s not in signals)
        confident = known[i] and not missing and r.valid_share >= 0.9
        out.append(MaintenanceScore(
            machine_id=r.machine_id, at=r.at, model_id=model_id, health=float(scores.health[i]),
            rul=round(float(scores.rul[i]), 4), rul_low=round(float(scores.rul_low[i]), 4),
            rul_high=round(float(scores.rul_high[i]), 4), rul_unit=model.kind.rul_unit, horizon=model.kind.horizon,
            p_fail=round(float(scores.p_fail[i]), 4), anomaly=round(float(scores.anomaly[i]), 4),
            confidence="high" if confident else "low", valid_share=round(r.valid_share, 4), missing_signals=missing,
            top_features=tuple(scores.top[i]), running_hours=r.running_hours, samples=r.samples,
        ))
    return out
