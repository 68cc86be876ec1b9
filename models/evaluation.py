"""Evaluation of a trained model: C-MAPSS test pairs as the literature scores them, plant histories as alerts.

:func:`evaluate_cmapss` predicts each test unit's RUL at its last cycle and scores it against the RUL file as
given (not capped): RMSE and the PHM08 score (a sum over units). :func:`evaluate_plant` replays run-to-failure
histories (with their ground truth: degradation onset, failure) through the model and the streaming flow's
alert rule and shared alert lifecycle, and reports the share of failures alerted before they happened, the
lead time (also as a share of the degradation span) and false alerts (raised before degradation began) per
machine-week of running.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from millstream.alert_lifecycle import AlertLifecycle, Condition
from millstream.maintenance.rules import alert_rule
from millstream.settings import MaintenanceSettings
from models.datasets import Histories
from models.model import MaintenanceModel, unit_features
from models.scoring_metrics import phm08_score, rmse

__all__ = ["evaluate_cmapss", "evaluate_plant", "last_cycle_features"]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _signal_index(model: MaintenanceModel, h: Histories) -> list[int]:
    return [h.kind.signals.index(s) for s in model.spec.signals]


def last_cycle_features(model: MaintenanceModel, h: Histories) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per unit, the features of the window ending at its last sample, and its true RUL there."""
    x = unit_features(h, model.spec, model.normaliser, _signal_index(model, h))
    slices = h.unit_slices()
    last = np.array([rows.stop - 1 for _, rows in slices])
    return [u for u, _ in slices], x[last], h.rul[last]


def evaluate_cmapss(model: MaintenanceModel, h: Histories) -> dict[str, Any]:
    """RMSE and PHM08 score at the last cycle of each test unit, against the RUL file as given."""
    units, x, true = last_cycle_features(model, h)
    predicted = model.score(x).rul
    return {
        "rmse": round(rmse(predicted, true), 3),
        "phm08_score": round(phm08_score(predicted, true), 2),
        "n_units": len(units),
        "predictions": [{"unit": int(u) if u.isdigit() else u, "predicted": round(float(p), 2), "true": float(t)}
                        for u, p, t in zip(units, predicted, true, strict=True)],
    }


def evaluate_plant(model: MaintenanceModel, h: Histories, settings: MaintenanceSettings) -> dict[str, Any]:
    """Alerts on run-to-failure histories vs their ground truth (see the module docstring)."""
    if h.degrading is None:
        msg = "plant evaluation needs the histories' ground truth (the degrading column)"
        raise ValueError(msg)
    x = unit_features(h, model.spec, model.normaliser, _signal_index(model, h))
    scores = model.score(x, top_n=0)
    rule = alert_rule(settings)
    detected, leads, lead_shares, false_alerts, running_h = 0, [], [], 0, 0.0
    slices = h.unit_slices()
    for unit, rows in slices:
        lifecycle = AlertLifecycle(rule)
        track = None
        onset_rows = np.flatnonzero(h.degrading[rows])
        failure_h = float(h.time[rows.stop - 1] + h.rul[rows.stop - 1])
        onset_h = float(h.time[rows][onset_rows[0]]) if len(onset_rows) else failure_h
        running_h += failure_h - float(h.time[rows.start]) + (h.time[rows.start + 1] - h.time[rows.start]
                                                                if rows.stop - rows.start > 1 else 0.0)
        opened: list[tuple[float, bool]] = []
        for i in range(rows.start + model.spec.min_samples - 1, rows.stop):
            at = _EPOCH + timedelta(hours=float(h.time[i]))
            track, changes = lifecycle(track, Condition("machine", unit, float(scores.p_fail[i]), at))
            for alert in changes:
                if alert.state == "open" and alert.trigger_count == 1 and alert.opened_at == at:
                    opened.append((float(h.time[i]), bool(h.degrading[i])))
        false_alerts += sum(1 for _, degrading in opened if not degrading)
        true_opens = [t for t, degrading in opened if degrading]
        if true_opens:
            detected += 1
            leads.append(failure_h - true_opens[0])
            span = failure_h - onset_h
            lead_shares.append((failure_h - true_opens[0]) / span if span > 0 else 0.0)
    weeks = running_h / (7 * 24)
    return {
        "n_failures": len(slices),
        "alerted_before_failure": detected,
        "share_alerted": round(detected / len(slices), 4),
        "median_lead_hours": round(float(np.median(leads)), 3) if leads else None,
        "median_lead_share_of_degradation": round(float(np.median(lead_shares)), 4) if lead_shares else None,
        "false_alerts": false_alerts,
        "machine_weeks": round(weeks, 3),
        "false_alerts_per_machine_week": round(false_alerts / weeks, 3) if weeks > 0 else None,
        "rule": rule.describe() | {"raise_above": rule.raise_above, "clear_below": rule.clear_below},
    }
