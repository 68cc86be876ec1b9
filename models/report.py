"""The training report: one PNG with predicted vs true RUL, error by RUL band and feature importances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import itertools

import matplotlib.pyplot as plt
import numpy as np

from models.model import MaintenanceModel

__all__ = ["write_report"]


def write_report(path: str | Path, model: MaintenanceModel, oof: np.ndarray, target: np.ndarray,
                 metrics: dict[str, Any]) -> Path:
    """Write the report of a training run (out-of-fold predictions vs the capped target) to ``path``."""
    unit = model.kind.rul_unit
    cap = model.kind.rul_cap
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    ax = axes[0]
    ax.scatter(target, oof, s=3, alpha=0.25, color="#1f77b4")
    ax.plot([0, cap], [0, cap], color="#d62728", lw=1)
    ax.set(xlabel=f"true RUL (capped at {cap:g} {unit})", ylabel=f"predicted RUL ({unit})",
           title=f"Unit-grouped CV: RMSE {metrics['cv_rmse_capped']:.2f}, test-like RMSE "
                 f"{metrics['cv_test_like_rmse']:.2f}")
    ax = axes[1]
    edges = np.linspace(0, cap, 6)
    labels, errors = [], []
    for lo, hi in itertools.pairwise(edges):
        sel = (target >= lo) & ((target < hi) | (hi == cap))
        if sel.any():
            labels.append(f"{lo:g}-{hi:g}")
            errors.append(oof[sel] - target[sel])
    ax.boxplot(errors, showfliers=False)
    ax.set_xticks(range(1, len(labels) + 1), labels)
    ax.axhline(0, color="#888", lw=1)
    ax.set(xlabel=f"true RUL band ({unit})", ylabel="predicted - true", title="Error by RUL band")
    ax = axes[2]
    names = np.array(model.feature_names)
    order = np.argsort(model.importances)[-15:]
    ax.barh(names[order], model.importances[order], color="#2ca02c")
    ax.set(xlabel="permutation importance (share)", title="Top features")
    ax.tick_params(axis="y", labelsize=8)
    fig.suptitle(f"{model.kind.name} maintenance model — interval coverage "
                 f"{metrics['interval_coverage_measured']:.1%} (target {metrics['interval_coverage_target']:.0%})")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
