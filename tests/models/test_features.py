"""The one feature definition: the same numbers whether computed for training (all windows) or streaming."""

from __future__ import annotations

import numpy as np
import pytest

from millstream.maintenance.windows import WindowBuffer
from models.features import FeatureSpec, feature_names, running_baseline, trailing_windows, window_features

SPEC = FeatureSpec(("temp", "vib"), length=12, tail=3, vibration=("vib",), context=("hours",), min_samples=4,
                   baseline=5)


def _series(n: int = 60, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=float)
    values = np.stack([40 + 0.1 * t + rng.normal(0, 0.3, n), 1.2 + 0.02 * t + rng.normal(0, 0.05, n)], axis=1)
    values[[7, 8, 30], 0] = np.nan  # bad-quality / non-finite readings are left out as NaN
    values[41, 1] = np.nan
    return values


def test_training_and_streaming_compute_the_same_features() -> None:
    values = _series()
    hours = np.arange(len(values), dtype=float)[:, None] / 60
    batch = window_features(trailing_windows(values, SPEC.length), SPEC, hours, running_baseline(values, SPEC.baseline))
    buffer = WindowBuffer(SPEC.length, 2, SPEC.baseline)
    streamed = []
    for i, row in enumerate(values):
        buffer.push(row)
        streamed.append(window_features(buffer.window()[None], SPEC, hours[i:i + 1], buffer.baseline()[None])[0])
    np.testing.assert_allclose(np.array(streamed), batch, equal_nan=True, rtol=1e-12, atol=1e-12)
    assert batch.shape == (len(values), len(feature_names(SPEC)))
    assert np.isnan(batch[:SPEC.min_samples - 1, 0]).all() and not np.isnan(batch[SPEC.min_samples - 1:, 0]).any()


def test_statistics_match_their_definitions() -> None:
    spec = FeatureSpec(("x",), length=10, tail=2, vibration=("x",), min_samples=2)
    ramp = np.arange(10, dtype=float) * 0.5 + 1.0
    row = dict(zip(feature_names(spec), window_features(ramp[None, :, None], spec)[0], strict=True))
    assert row["x__slope"] == pytest.approx(0.5)
    assert row["x__mean"] == pytest.approx(ramp.mean())
    assert row["x__std"] == pytest.approx(ramp.std())
    assert (row["x__min"], row["x__max"]) == (1.0, 5.5)
    assert row["x__last"] == pytest.approx(ramp[-2:].mean())
    assert row["x__roc"] == pytest.approx(0.5)
    assert row["x__rms"] == pytest.approx(np.sqrt(np.mean(ramp**2)))
    assert row["x__crest"] == pytest.approx(5.5 / np.sqrt(np.mean(ramp**2)))
    centred = ramp - ramp.mean()
    assert row["x__kurtosis"] == pytest.approx(np.mean(centred**4) / np.var(ramp) ** 2 - 3)


def test_a_missing_value_is_left_out_not_zero() -> None:
    spec = FeatureSpec(("x",), length=10, tail=2, min_samples=2)
    with_gap = np.array([1, 1, 1, np.nan, 1, 1, 1, 1, 1, 1], dtype=float)
    row = dict(zip(feature_names(spec), window_features(with_gap[None, :, None], spec)[0], strict=True))
    assert (row["x__mean"], row["x__min"], row["x__std"]) == (1.0, 1.0, 0.0)


def test_a_window_of_the_wrong_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="do not match the spec"):
        window_features(np.zeros((1, 5, 2)), SPEC)
