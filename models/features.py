"""The one feature definition for machine health: statistics of a trailing event-time window of samples.

A window is the last ``length`` samples of one machine (or engine unit), one column per signal; a sample that
is missing, non-finite or of bad quality is NaN and left out of every statistic. :func:`window_features`
turns a stack of windows ``(n, length, signals)`` into a feature matrix ``(n, features)`` in one vectorised
pass, so training (every window of every unit, :func:`trailing_windows`) and streaming (the current window of
each machine in a micro-batch, :class:`~millstream.maintenance.windows.WindowBuffer`) run the very same code — no
train/serve skew.

Per signal: level (mean), spread (std), min, max, the smoothed last value (mean of the last ``tail``
samples), slope per sample (least squares), rate of change (mean of the last ``tail`` minus the ``tail``
before, per sample) and, for vibration signals, RMS, kurtosis and crest factor. With ``baseline`` > 0 also the
drift of the smoothed last value from the unit's own baseline (the mean of its first ``baseline`` samples since
new or since the last maintenance: :func:`running_baseline` in training,
:class:`~millstream.maintenance.windows.WindowBuffer` streaming), so units that start at different levels of initial
wear compare. Context columns (e.g. running time since the last maintenance, the engine's cycle) are appended as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FEATURES_VERSION", "FeatureSpec", "feature_names", "running_baseline", "trailing_windows",
           "window_features"]

#: Bumped whenever a feature's definition changes: models trained with another version are refused.
FEATURES_VERSION = 1

_BASE_STATS = ("mean", "std", "min", "max", "last", "slope", "roc")
_VIBRATION_STATS = ("rms", "kurtosis", "crest")


@dataclass(frozen=True)
class FeatureSpec:
    """Which signals a model reads, how long its window is, which are vibration, which context it appends."""

    signals: tuple[str, ...]
    length: int = 30
    tail: int = 5
    vibration: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    min_samples: int = 5
    baseline: int = 0

    def __post_init__(self) -> None:
        if self.length < 2 * self.tail or self.tail < 1:
            msg = f"window length {self.length} must be at least twice the tail {self.tail}"
            raise ValueError(msg)
        unknown = set(self.vibration) - set(self.signals)
        if unknown:
            msg = f"vibration signals {sorted(unknown)} are not among the signals"
            raise ValueError(msg)

    def as_dict(self) -> dict[str, object]:
        return {"signals": list(self.signals), "length": self.length, "tail": self.tail,
                "vibration": list(self.vibration), "context": list(self.context), "min_samples": self.min_samples,
                "baseline": self.baseline}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        return cls(signals=tuple(data["signals"]), length=int(data["length"]), tail=int(data["tail"]),
                   vibration=tuple(data["vibration"]), context=tuple(data["context"]),
                   min_samples=int(data["min_samples"]), baseline=int(data.get("baseline", 0)))


def feature_names(spec: FeatureSpec) -> list[str]:
    """Column names of :func:`window_features`' output, in order."""
    names = [f"{s}__{stat}" for s in spec.signals for stat in _BASE_STATS]
    names += [f"{s}__{stat}" for s in spec.vibration for stat in _VIBRATION_STATS]
    if spec.baseline:
        names += [f"{s}__drift" for s in spec.signals]
    return names + list(spec.context)


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    count = np.sum(~np.isnan(x), axis=axis)
    total = np.nansum(x, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def window_features(windows: np.ndarray, spec: FeatureSpec, context: np.ndarray | None = None,
                    baseline: np.ndarray | None = None) -> np.ndarray:
    """Features of ``windows`` ``(n, length, len(spec.signals))`` (NaN = left out) -> ``(n, n_features)``.

    ``context`` is ``(n, len(spec.context))``, ``baseline`` ``(n, signals)`` (when ``spec.baseline``). A
    statistic with too few valid samples is NaN.
    """
    w = np.asarray(windows, dtype=np.float64)
    n, length, n_signals = w.shape
    if length != spec.length or n_signals != len(spec.signals):
        msg = f"windows of shape {w.shape} do not match the spec ({spec.length} samples x {len(spec.signals)})"
        raise ValueError(msg)
    valid = ~np.isnan(w)
    count = valid.sum(axis=1)
    mean = _nanmean(w, 1)
    centred = np.where(valid, w - mean[:, None, :], 0.0)
    var = (centred**2).sum(axis=1) / np.maximum(count, 1)
    std = np.sqrt(var)
    with np.errstate(invalid="ignore"):
        lo = np.where(count > 0, np.nanmin(np.where(valid, w, np.inf), axis=1), np.nan)
        hi = np.where(count > 0, np.nanmax(np.where(valid, w, -np.inf), axis=1), np.nan)
    last = _nanmean(w[:, -spec.tail:, :], 1)
    before = _nanmean(w[:, -2 * spec.tail:-spec.tail, :], 1)
    roc = (last - before) / spec.tail
    x = np.arange(length, dtype=np.float64)[None, :, None]
    x_mean = (np.where(valid, x, 0.0)).sum(axis=1) / np.maximum(count, 1)
    dx = np.where(valid, x - x_mean[:, None, :], 0.0)
    sxx = (dx**2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sxx > 0, (dx * centred).sum(axis=1) / np.where(sxx > 0, sxx, 1.0), np.nan)
    enough = count >= spec.min_samples
    base = np.stack([mean, std, lo, hi, last, slope, roc], axis=2)  # (n, signals, stats)
    base = np.where(enough[:, :, None], base, np.nan)
    columns = [base.reshape(n, -1)]
    if spec.vibration:
        idx = [spec.signals.index(s) for s in spec.vibration]
        v, vv, vc, vvar, vcount = w[:, :, idx], valid[:, :, idx], centred[:, :, idx], var[:, idx], count[:, idx]
        rms = np.sqrt(np.where(vv, v**2, 0.0).sum(axis=1) / np.maximum(vcount, 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            m4 = (vc**4).sum(axis=1) / np.maximum(vcount, 1)
            kurtosis = np.where(vvar > 0, m4 / np.where(vvar > 0, vvar**2, 1.0) - 3.0, 0.0)
            peak = np.max(np.where(vv, np.abs(v), 0.0), axis=1)
            crest = np.where(rms > 0, peak / np.where(rms > 0, rms, 1.0), 0.0)
        vib = np.stack([rms, kurtosis, crest], axis=2)
        vib = np.where((vcount >= spec.min_samples)[:, :, None], vib, np.nan)
        columns.append(vib.reshape(n, -1))
    if spec.baseline:
        if baseline is None or np.shape(baseline) != (n, n_signals):
            msg = f"the spec has a baseline of {spec.baseline} samples: pass baseline of shape ({n}, {n_signals})"
            raise ValueError(msg)
        columns.append(base[:, :, 4] - np.asarray(baseline, dtype=np.float64))
    if spec.context:
        ctx = np.zeros((n, 0)) if context is None else np.asarray(context, dtype=np.float64).reshape(n, -1)
        if ctx.shape[1] != len(spec.context):
            msg = f"context has {ctx.shape[1]} columns, the spec names {len(spec.context)}"
            raise ValueError(msg)
        columns.append(ctx)
    return np.concatenate(columns, axis=1)


def trailing_windows(values: np.ndarray, length: int) -> np.ndarray:
    """Every trailing window of one unit's samples ``(t, signals)`` -> ``(t, length, signals)``.

    Window ``i`` ends at sample ``i``; before the unit has ``length`` samples the window is NaN-padded in
    front, exactly as :class:`~millstream.maintenance.windows.WindowBuffer` pads a machine that has just started.
    """
    v = np.asarray(values, dtype=np.float64)
    padded = np.concatenate([np.full((length - 1, v.shape[1]), np.nan), v], axis=0)
    view = np.lib.stride_tricks.sliding_window_view(padded, length, axis=0)  # (t, signals, length)
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def running_baseline(values: np.ndarray, length: int) -> np.ndarray:
    """Per sample ``i``, the mean of the valid values among the unit's first ``min(i + 1, length)`` samples."""
    v = np.asarray(values, dtype=np.float64)
    head = v[:length]
    valid = ~np.isnan(head)
    sums = np.cumsum(np.where(valid, head, 0.0), axis=0)
    counts = np.cumsum(valid, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    if len(v) > length:
        means = np.concatenate([means, np.repeat(means[-1:], len(v) - length, axis=0)], axis=0)
    return means
