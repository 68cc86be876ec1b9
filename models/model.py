"""A trained maintenance model and how it scores: RUL with an interval, failure risk, health, anomaly, why.

:class:`MaintenanceModel` bundles everything scoring needs — the feature spec, the operating-condition
normaliser, the RUL regressor (piecewise-linear capped target), the failure-within-horizon classifier
(calibrated: :class:`CalibratedClassifier`), the split-conformal interval (residual quantiles per
predicted-RUL band), the IsolationForest fitted on healthy windows (cold start: an anomaly score that needs
no failure history) and the healthy feature levels used to name the features that contribute most.
:meth:`MaintenanceModel.score` is vectorised: one call per micro-batch of windows.

:func:`unit_features` builds the feature matrix of run-to-failure histories with the same
:func:`models.features.window_features` the streaming flow calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.conditions import ConditionNormaliser
from models.datasets import DatasetKind, Histories
from models.features import FeatureSpec, feature_names, running_baseline, trailing_windows, window_features

__all__ = ["CalibratedClassifier", "MaintenanceModel", "Scores", "unit_features"]


@dataclass
class Scores:
    """Scores of a batch of windows (arrays of length n, ``top`` a list of n lists)."""

    rul: np.ndarray
    rul_low: np.ndarray
    rul_high: np.ndarray
    p_fail: np.ndarray
    health: np.ndarray
    anomaly: np.ndarray
    top: list[list[dict[str, Any]]]


def unit_features(h: Histories, spec: FeatureSpec, normaliser: ConditionNormaliser,
                  signal_index: list[int]) -> np.ndarray:
    """The feature matrix of every sample of every unit (each row: the window ending at that sample)."""
    parts = []
    for _, rows in h.unit_slices():
        z = normaliser.transform(h.conditions[rows], h.signals[rows][:, signal_index])
        context = _context(h, rows, spec)
        base = running_baseline(z, spec.baseline) if spec.baseline else None
        parts.append(window_features(trailing_windows(z, spec.length), spec, context, base))
    return np.concatenate(parts) if parts else np.zeros((0, len(feature_names(spec))))


def _context(h: Histories, rows: slice, spec: FeatureSpec) -> np.ndarray | None:
    if not spec.context:
        return None
    columns = {"cycle": h.time[rows], "running_hours": h.time[rows]}
    return np.stack([columns[c] for c in spec.context], axis=1)


@dataclass
class CalibratedClassifier:
    """A binary classifier whose probability is mapped through an isotonic fit of the true outcome on the
    out-of-fold probabilities of unit-grouped CV (what scikit-learn's ``CalibratedClassifierCV`` does with
    ``method="isotonic", ensemble=False``, reusing the CV the training already ran instead of fitting it again).

    A gradient-boosted classifier on run-to-failure windows is nearly separable in sample and says 0.001 or
    0.999; calibrated, 0.6 means that six in ten such windows of units it was not fitted on failed within the
    horizon, which is what the alert threshold assumes.
    """

    base: Any
    calibrator: Any

    @property
    def n_iter_(self) -> int:
        return int(self.base.n_iter_)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        p = np.clip(self.calibrator.predict(self.base.predict_proba(x)[:, 1]), 0.0, 1.0)
        return np.column_stack([1.0 - p, p])


@dataclass
class MaintenanceModel:
    """Everything needed to score windows of one dataset kind."""

    kind: DatasetKind
    spec: FeatureSpec
    normaliser: ConditionNormaliser
    regressor: Any
    classifier: Any
    anomaly_model: Any
    anomaly_threshold: float
    interval_bands: list[tuple[float, float, float]]  # (upper edge of predicted RUL, low residual, high residual)
    coverage_target: float
    healthy_mean: np.ndarray
    healthy_std: np.ndarray
    importances: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return feature_names(self.spec)

    def interval(self, rul: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The split-conformal interval around predicted RULs (band by predicted value), within [0, cap]."""
        low = np.empty_like(rul)
        high = np.empty_like(rul)
        edges = np.array([b[0] for b in self.interval_bands])
        band = np.minimum(np.searchsorted(edges, rul, side="right"), len(edges) - 1)
        q_low = np.array([b[1] for b in self.interval_bands])[band]
        q_high = np.array([b[2] for b in self.interval_bands])[band]
        low = np.clip(rul + q_low, 0.0, self.kind.rul_cap)
        high = np.clip(rul + q_high, 0.0, self.kind.rul_cap)
        return low, high

    def score(self, features: np.ndarray, top_n: int = 3) -> Scores:
        """Scores of a micro-batch of feature rows (one vectorised predict per model)."""
        x = np.asarray(features, dtype=np.float64)
        rul = np.clip(self.regressor.predict(x), 0.0, self.kind.rul_cap)
        low, high = self.interval(rul)
        p_fail = self.classifier.predict_proba(x)[:, 1]
        health = np.round(100.0 * np.clip(rul / self.kind.rul_cap, 0.0, 1.0) * (1.0 - 0.5 * p_fail), 1)
        filled = np.where(np.isnan(x), self.healthy_mean, x)
        anomaly = -self.anomaly_model.score_samples(filled) / self.anomaly_threshold
        return Scores(rul, low, high, p_fail, health, anomaly, self.contributions(x, top_n))

    def contributions(self, x: np.ndarray, top_n: int = 3) -> list[list[dict[str, Any]]]:
        """Per row, the features that deviate most from healthy, weighted by their importance."""
        z = np.nan_to_num((x - self.healthy_mean) / self.healthy_std)
        weight = np.abs(z) * self.importances
        order = np.argsort(-weight, axis=1)[:, :top_n]
        names = self.feature_names
        return [[{"feature": names[j], "value": round(float(x[i, j]), 4), "z": round(float(z[i, j]), 2)}
                 for j in order[i] if weight[i, j] > 0] for i in range(len(x))]
