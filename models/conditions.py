"""Normalisation by operating condition: each signal as a z-score against its level in that condition.

Engines flying at six regimes (C-MAPSS FD002/FD004) or machines of different kinds (lathe, mill) show the
same wear at different absolute levels. :class:`ConditionNormaliser` learns, per condition key, the mean and
spread of each signal on healthy samples and maps samples to z-scores, so one model serves every condition.
An unknown condition falls back to the statistics over all conditions and is reported (lower confidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ALL_CONDITIONS", "ConditionNormaliser"]

ALL_CONDITIONS = "*"


@dataclass
class ConditionNormaliser:
    """Per-condition mean and std of each signal (plain lists, stored in a model's metadata)."""

    means: dict[str, list[float]]
    stds: dict[str, list[float]]

    @classmethod
    def fit(cls, conditions: np.ndarray, signals: np.ndarray, healthy: np.ndarray | None = None,
            min_rows: int = 10) -> ConditionNormaliser:
        rows = np.ones(len(signals), bool) if healthy is None else np.asarray(healthy, bool)
        means: dict[str, list[float]] = {}
        stds: dict[str, list[float]] = {}

        def add(key: str, mask: np.ndarray) -> None:
            x = signals[mask]
            means[key] = np.nanmean(x, axis=0).tolist()
            stds[key] = np.where(np.nanstd(x, axis=0) > 1e-9, np.nanstd(x, axis=0), 1.0).tolist()

        add(ALL_CONDITIONS, rows)
        for key in np.unique(conditions):
            mask = rows & (conditions == key)
            if mask.sum() >= min_rows:
                add(str(key), mask)
        return cls(means, stds)

    def known(self, condition: str) -> bool:
        return condition in self.means

    def transform(self, conditions: np.ndarray, signals: np.ndarray) -> np.ndarray:
        """z-scores of ``signals`` (n, s) under each row's condition (unknown -> all conditions)."""
        out = np.empty_like(signals, dtype=np.float64)
        conditions = np.asarray(conditions)
        for key in np.unique(conditions):
            k = str(key) if str(key) in self.means else ALL_CONDITIONS
            mask = conditions == key
            out[mask] = (signals[mask] - np.asarray(self.means[k])) / np.asarray(self.stds[k])
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"means": self.means, "stds": self.stds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConditionNormaliser:
        return cls({k: list(v) for k, v in data["means"].items()}, {k: list(v) for k, v in data["stds"].items()})
