"""Error measures of RUL predictions as the prognostics literature reports them."""

from __future__ import annotations

import numpy as np

__all__ = ["phm08_score", "rmse"]


def rmse(predicted: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared error."""
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sqrt(np.mean(d**2)))


def phm08_score(predicted: np.ndarray, true: np.ndarray) -> float:
    """The PHM08 challenge score: sum of exp(-d/13)-1 for early (d<0) and exp(d/10)-1 for late predictions.

    ``d = predicted - true``; late predictions cost more. Summed over units (lower is better).
    """
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1.0, np.exp(d / 10.0) - 1.0)))
