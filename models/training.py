"""Training: unit-grouped cross-validated search, then the final model with interval, anomaly and report data.

Steps: pick the informative signals (more than a handful of distinct values), fit the operating-condition
normaliser on healthy samples, build every window's features, then a bounded random search over
HistGradientBoosting hyper-parameters scored by unit-grouped K-fold CV (no unit is ever in both the fitting
and the scoring part). The out-of-fold predictions of the best setting give the CV metrics — capped RMSE
(the training target), and a *test-like* RMSE and PHM08 score at random truncation points per held-out unit
scored against the uncapped RUL, as the official C-MAPSS test sets are — the split-conformal interval and its
coverage measured on units not used to calibrate it. The final models are fitted on all units.

**Calibration.** The failure-within-horizon probability is mapped through an isotonic fit on the unit-grouped
out-of-fold probabilities (:class:`~models.model.CalibratedClassifier`), so a risk of 0.6 means six in ten.
``cv_horizon_brier_raw`` is the out-of-fold Brier score before it, ``cv_horizon_brier_calibrated`` after it,
measured on units not calibrated on (half the units calibrate, the other half measure, and vice versa).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, IsolationForest
from sklearn.inspection import permutation_importance
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import GroupKFold

from models.conditions import ConditionNormaliser
from models.datasets import CMAPSS, DatasetError, Histories
from models.features import FeatureSpec
from models.model import CalibratedClassifier, MaintenanceModel, unit_features
from models.scoring_metrics import phm08_score, rmse

__all__ = ["SEARCH_SPACE", "TrainOptions", "TrainResult", "train"]

#: The bounded hyper-parameter space (random search draws ``TrainOptions.search`` settings from it).
SEARCH_SPACE: dict[str, list[Any]] = {
    "learning_rate": [0.03, 0.05, 0.08],
    "max_iter": [200, 300, 450],
    "max_leaf_nodes": [15, 31],
    "min_samples_leaf": [20, 50, 100],
    "l2_regularization": [0.0, 1.0],
}
_DEFAULT = {"learning_rate": 0.05, "max_iter": 300, "max_leaf_nodes": 15, "min_samples_leaf": 50,
            "l2_regularization": 0.0}
_BAND_EDGES = (25.0, 50.0, 75.0, 100.0)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainOptions:
    search: int = 6
    folds: int = 5
    seed: int = 0
    coverage: float = 0.9
    cuts_per_unit: int = 10
    importance_rows: int = 2000
    #: Caps boosting iterations (quick models for tests and a first start; None = the search decides).
    max_iter: int | None = None


@dataclass
class TrainResult:
    model: MaintenanceModel
    metrics: dict[str, Any]
    oof: np.ndarray
    target: np.ndarray
    true_rul: np.ndarray
    units: np.ndarray


def _informative(h: Histories) -> list[int]:
    keep = [i for i in range(h.signals.shape[1])
            if np.isfinite(h.signals[:, i]).all() and len(np.unique(h.signals[:, i])) > 5]
    if not keep:
        msg = "no signal varies in the training data"
        raise DatasetError(msg)
    return keep


def _healthy_rows(h: Histories) -> np.ndarray:
    if h.degrading is not None:
        return ~h.degrading
    return h.rul > h.kind.healthy_rul


def _candidates(options: TrainOptions) -> list[dict[str, Any]]:
    rng = np.random.default_rng(options.seed)
    out = [dict(_DEFAULT)]
    while len(out) < max(1, options.search):
        cand = {k: v[int(rng.integers(len(v)))] for k, v in SEARCH_SPACE.items()}
        if cand not in out:
            out.append(cand)
    if options.max_iter is not None:
        out = [c | {"max_iter": min(c["max_iter"], options.max_iter)} for c in out]
    return out[: max(1, options.search)]


def _regressor(params: dict[str, Any], seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(**params, random_state=seed)


def _classifier(options: TrainOptions) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=min(200, options.max_iter or 200), learning_rate=0.05,
                                          random_state=options.seed)


def _test_like(oof: np.ndarray, h: Histories, options: TrainOptions) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions at random truncation points of each unit, with the uncapped true RUL.

    The cut leaves a true RUL drawn from [5, 150] (the official FD001 test RULs span 7-145) within what the
    unit's life allows, ``cuts_per_unit`` times per unit.
    """
    rng = np.random.default_rng(options.seed + 1)
    pred, true = [], []
    top = 150.0 * h.kind.rul_cap / CMAPSS.rul_cap
    low = 5.0 * h.kind.rul_cap / CMAPSS.rul_cap
    for _, rows in h.unit_slices():
        idx = np.arange(rows.start, rows.stop)
        ok = idx[(h.rul[idx] >= low) & (h.rul[idx] <= top)]
        if len(ok):
            pick = rng.choice(ok, size=min(options.cuts_per_unit, len(ok)), replace=False)
            pred.append(oof[pick])
            true.append(h.rul[pick])
    return np.concatenate(pred), np.concatenate(true)


def _conformal(pred: np.ndarray, target: np.ndarray, units: np.ndarray, coverage: float,
               seed: int) -> tuple[list[tuple[float, float, float]], float]:
    """Residual quantiles per predicted-RUL band, and the coverage measured on units not calibrated on."""
    edges = [*_BAND_EDGES, np.inf]

    def bands(rows: np.ndarray) -> list[tuple[float, float, float]]:
        out = []
        alpha = (1.0 - coverage) / 2.0
        for lo, hi in zip([-np.inf, *edges[:-1]], edges, strict=True):
            sel = rows & (pred >= lo) & (pred < hi)
            res = (target - pred)[sel] if sel.sum() >= 20 else (target - pred)[rows]
            out.append((float(hi), float(np.quantile(res, alpha)), float(np.quantile(res, 1 - alpha))))
        return out

    rng = np.random.default_rng(seed + 2)
    unique = np.unique(units)
    half = set(rng.choice(unique, size=len(unique) // 2, replace=False).tolist())
    in_a = np.array([u in half for u in units])
    covered = 0
    for calibrate, check in ((in_a, ~in_a), (~in_a, in_a)):
        b = bands(calibrate)
        edges_arr = np.array([x[0] for x in b])
        k = np.minimum(np.searchsorted(edges_arr, pred[check], side="right"), len(b) - 1)
        lo = pred[check] + np.array([x[1] for x in b])[k]
        hi = pred[check] + np.array([x[2] for x in b])[k]
        covered += int(np.sum((target[check] >= lo) & (target[check] <= hi)))
    return bands(np.ones(len(pred), bool)), covered / len(pred)


def train(h: Histories, options: TrainOptions | None = None, progress: Progress | None = None) -> TrainResult:
    """Train a maintenance model on run-to-failure histories ``h`` (see the module docstring)."""
    options = options or TrainOptions()
    kind = h.kind
    units = np.unique(h.units)
    if len(units) < options.folds:
        msg = f"unit-grouped {options.folds}-fold CV needs at least {options.folds} units, the data has {len(units)}"
        raise DatasetError(msg)
    step = progress or (lambda _what, _done, _total: None)
    keep = _informative(h)
    signals = tuple(kind.signals[i] for i in keep)
    spec = FeatureSpec(signals, length=kind.window, vibration=tuple(s for s in kind.vibration if s in signals),
                       context=kind.context, baseline=20 if kind.context else 0)
    healthy = _healthy_rows(h)
    normaliser = ConditionNormaliser.fit(h.conditions, h.signals[:, keep], healthy)
    x = unit_features(h, spec, normaliser, keep)
    target = np.minimum(h.rul, kind.rul_cap)
    failing = (h.rul <= kind.horizon).astype(int)
    folds = list(GroupKFold(options.folds).split(x, target, h.units))
    candidates = _candidates(options)
    total = len(candidates) * len(folds) + len(folds) + 3
    done = 0
    best: tuple[float, dict[str, Any], np.ndarray] | None = None
    results = []
    for params in candidates:
        oof = np.zeros(len(target))
        for fit_rows, held_out in folds:
            model = _regressor(params, options.seed).fit(x[fit_rows], target[fit_rows])
            oof[held_out] = np.clip(model.predict(x[held_out]), 0.0, kind.rul_cap)
            done += 1
            step("search", done, total)
        score = rmse(oof, target)
        results.append({"params": params, "cv_rmse": round(score, 3)})
        if best is None or score < best[0]:
            best = (score, params, oof)
    assert best is not None
    cv_rmse, params, oof = best
    p_oof = np.zeros(len(target))
    anomaly_auc = []
    for fit_rows, held_out in folds:
        clf = _classifier(options)
        p_oof[held_out] = clf.fit(x[fit_rows], failing[fit_rows]).predict_proba(x[held_out])[:, 1]
        iso = _isolation(x[fit_rows[healthy[fit_rows]]], options.seed)
        scores = -iso.score_samples(np.nan_to_num(x[held_out]))
        sel = healthy[held_out] | (failing[held_out] == 1)
        if len(np.unique(failing[held_out][sel])) == 2:
            anomaly_auc.append(roc_auc_score(failing[held_out][sel], scores[sel]))
        done += 1
        step("classifier, anomaly", done, total)
    pred_t, true_t = _test_like(oof, h, options)
    bands, coverage = _conformal(oof, target, h.units, options.coverage, options.seed)
    calibrator = _isotonic(p_oof, failing)
    metrics: dict[str, Any] = {
        "folds": options.folds, "units": len(units), "windows": len(target),
        "cv_rmse_capped": round(cv_rmse, 3),
        "cv_mae_capped": round(float(np.mean(np.abs(oof - target))), 3),
        "cv_test_like_rmse": round(rmse(pred_t, true_t), 3),
        "cv_test_like_phm08": round(phm08_score(pred_t, true_t) * 100.0 / len(pred_t), 1),
        "cv_test_like_points": len(pred_t),
        "cv_horizon_auc": round(float(roc_auc_score(failing, p_oof)), 4) if len(np.unique(failing)) == 2 else None,
        "cv_horizon_brier_raw": round(float(brier_score_loss(failing, p_oof)), 5),
        "cv_horizon_brier_calibrated": round(_calibrated_brier(p_oof, failing, h.units, options.seed), 5),
        "interval_coverage_target": options.coverage,
        "interval_coverage_measured": round(coverage, 4),
        "anomaly_auc_healthy_vs_failing": round(float(np.mean(anomaly_auc)), 4) if anomaly_auc else None,
        "search": results,
        "best_params": params,
    }
    regressor = _regressor(params, options.seed).fit(x, target)
    step("final regressor", done + 1, total)
    classifier = CalibratedClassifier(_classifier(options).fit(x, failing), calibrator)
    step("final classifier", done + 2, total)
    iso = _isolation(x[healthy], options.seed)
    threshold = float(np.quantile(-iso.score_samples(np.nan_to_num(x[healthy])), 0.99))
    healthy_x = x[healthy]
    importances = _importances(regressor, x, target, options.seed, options.importance_rows)
    step("importances", total, total)
    model = MaintenanceModel(
        kind=kind, spec=spec, normaliser=normaliser, regressor=regressor, classifier=classifier,
        anomaly_model=iso, anomaly_threshold=threshold, interval_bands=bands, coverage_target=options.coverage,
        healthy_mean=np.nan_to_num(np.nanmean(healthy_x, axis=0)),
        healthy_std=np.where(np.nanstd(healthy_x, axis=0) > 1e-9, np.nanstd(healthy_x, axis=0), 1.0),
        importances=importances, params=params,
    )
    return TrainResult(model, metrics, oof, target, h.rul, h.units)


def _isotonic(p: np.ndarray, y: np.ndarray) -> IsotonicRegression:
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p, y)


def _calibrated_brier(p: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int) -> float:
    """Brier score of the calibrated out-of-fold probabilities on units the calibration was not fitted on."""
    rng = np.random.default_rng(seed + 4)
    unique = np.unique(groups)
    half = set(rng.choice(unique, size=len(unique) // 2, replace=False).tolist())
    in_a = np.array([g in half for g in groups])
    loss = 0.0
    for fit, check in ((in_a, ~in_a), (~in_a, in_a)):
        if check.any() and fit.any():
            loss += float(np.sum((_isotonic(p[fit], y[fit]).predict(p[check]) - y[check]) ** 2))
    return loss / len(y)


def _isolation(x: np.ndarray, seed: int) -> IsolationForest:
    return IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(np.nan_to_num(x))


def _importances(model: Any, x: np.ndarray, y: np.ndarray, seed: int, n_rows: int) -> np.ndarray:
    """Permutation importance (RMSE increase) on a sample of rows, normalised to sum 1."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(x), size=min(len(x), n_rows), replace=False)
    result = permutation_importance(model, x[rows], y[rows], n_repeats=2, random_state=seed,
                                    scoring="neg_root_mean_squared_error")
    imp = np.clip(result.importances_mean, 0.0, None)
    return imp / imp.sum() if imp.sum() > 0 else np.full(len(imp), 1.0 / len(imp))
