"""Normalisation by operating condition on synthetic C-MAPSS FD002/FD004-style data: three flight regimes
(the settings columns) put every sensor at a different absolute level, the same wear must come out as the same
z-score in every regime. FD001 flies one regime, so it never exercises this."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.conditions import ALL_CONDITIONS, ConditionNormaliser
from models.datasets import cmapss_condition, load_cmapss

# (altitude kft, Mach, throttle resolver angle) of three C-MAPSS regimes and the key they round to
REGIMES = [((0.0, 0.0, 100.0), "0|0.0|100"), ((20.0, 0.7, 100.0), "20|0.7|100"), ((42.0, 0.84, 100.0), "42|0.8|100")]
UNITS, STEPS = 3, 20  # each unit flies STEPS wear steps, one cycle in every regime per step
HEALTHY_STEPS = 12


def write_fd002_like(path: Path, seed: int = 5) -> np.ndarray:
    """A 26-column train file (sensor = regime offset + regime scale x wear); returns each row's wear."""
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(-500, 2000, size=(len(REGIMES), 21))
    scales = rng.uniform(0.5, 20, size=(len(REGIMES), 21))
    scales[:, 0] = 0.0  # s1 is constant within a regime (as several C-MAPSS sensors are)
    lines, latent_rows = [], []
    for unit in range(1, UNITS + 1):
        wear = rng.normal(0, 1, STEPS) + np.r_[np.zeros(HEALTHY_STEPS), np.linspace(1, 8, STEPS - HEALTHY_STEPS)]
        for step in range(STEPS):
            for r, (setting, _) in enumerate(REGIMES):
                cycle = step * len(REGIMES) + r + 1
                # settings jitter as in the NASA files, kept >= 0 here: cmapss_condition keys a jitter below
                # zero as "-0" / "-0.0", a separate regime (known open issue; FD001 then gets four keys)
                noisy = [setting[0] + rng.uniform(0, 0.0009), setting[1] + rng.uniform(0, 0.0009), setting[2]]
                sensors = offsets[r] + scales[r] * wear[step]
                lines.append(" ".join(f"{v:.6f}" for v in [unit, cycle, *noisy, *sensors]))
                latent_rows.append(wear[step])
    path.write_text("\n".join(lines) + "\n")
    return np.asarray(latent_rows)


def test_regimes_at_different_levels_normalise_to_the_same_wear(tmp_path: Path) -> None:
    wear = write_fd002_like(tmp_path / "train_FD002_like.txt")
    h = load_cmapss(tmp_path / "train_FD002_like.txt")
    assert sorted(np.unique(h.conditions)) == sorted(key for _, key in REGIMES)
    step = (h.time.astype(int) - 1) // len(REGIMES)
    healthy = step < HEALTHY_STEPS
    by_regime = {key: h.conditions == key for _, key in REGIMES}

    # raw: a sensor's healthy level depends on the regime far more than on wear
    raw_means = np.array([h.signals[healthy & m, 1].mean() for m in by_regime.values()])
    raw_spread = max(h.signals[healthy & m, 1].std() for m in by_regime.values())
    assert np.ptp(raw_means) > 10 * raw_spread

    normaliser = ConditionNormaliser.fit(h.conditions, h.signals, healthy)
    assert all(normaliser.known(key) for key in by_regime)
    z = normaliser.transform(h.conditions, h.signals)
    # healthy samples of every regime: mean 0, std 1 in each varying sensor; the constant s1 -> 0
    for m in by_regime.values():
        np.testing.assert_allclose(z[healthy & m, 1:].mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(z[healthy & m, 1:].std(axis=0), 1.0, atol=1e-9)
        np.testing.assert_allclose(z[m, 0], 0.0, atol=1e-9)
    # the same wear in different regimes: the same z-scores (rows of one unit/step in each regime)
    first, *others = [z[m] for m in by_regime.values()]
    for other in others:
        np.testing.assert_allclose(other, first, atol=1e-4)  # the file keeps 6 decimals
    # which is the standardised wear itself (every sensor rises with wear, at its own scale)
    expected = (wear - wear[healthy].mean()) / wear[healthy].std()
    np.testing.assert_allclose(z[:, 1:], np.repeat(expected[:, None], 20, axis=1), atol=1e-4)
    # and z follows wear: the worn end of each unit stands out from the healthy cycles
    assert z[~healthy, 1:].mean() > 2 * z[healthy, 1:].std()

    # without the conditions (all rows under the pooled statistics) the regimes do not agree
    pooled = normaliser.transform(np.full(len(h.conditions), "unseen regime"), h.signals)
    assert np.abs(pooled[by_regime[REGIMES[0][1]]] - pooled[by_regime[REGIMES[1][1]]]).max() > 1.0
    assert not normaliser.known("unseen regime")

    # stored in a model's metadata and read back: the same transform
    again = ConditionNormaliser.from_dict(normaliser.as_dict())
    np.testing.assert_array_equal(again.transform(h.conditions, h.signals), z)


def test_a_regime_with_too_few_healthy_rows_uses_the_pooled_statistics() -> None:
    rng = np.random.default_rng(1)
    conditions = np.array(["a"] * 30 + ["b"] * 30 + ["rare"] * 4)
    signals = np.r_[rng.normal(0, 1, (30, 2)), rng.normal(100, 5, (30, 2)), rng.normal(50, 2, (4, 2))]
    normaliser = ConditionNormaliser.fit(conditions, signals, min_rows=10)
    assert normaliser.known("a") and normaliser.known("b") and not normaliser.known("rare")
    z = normaliser.transform(conditions, signals)
    expected = (signals[-4:] - signals.mean(axis=0)) / signals.std(axis=0)
    np.testing.assert_allclose(z[-4:], expected)
    assert ALL_CONDITIONS in normaliser.means
    assert z[:30].mean() == pytest.approx(0.0, abs=1e-9)


def test_settings_jittering_around_zero_are_one_regime() -> None:
    # FD001's settings jitter around 0 (e.g. -0.0007 and 0.0019): rounding gives -0.0 and 0.0, one regime.
    settings = np.array([[-0.0007, -0.0004, 100.0], [0.0019, 0.0003, 100.0], [-0.0043, 0.0, 100.0]])
    assert len(set(cmapss_condition(settings))) == 1
