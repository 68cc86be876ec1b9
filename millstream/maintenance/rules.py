"""The maintenance alert rule: a machine's failure risk as a condition of the shared alert lifecycle."""

from __future__ import annotations

from datetime import timedelta

from millstream.alert_lifecycle import AlertRule, Condition
from millstream.events.maintenance import MaintenanceScore
from millstream.settings import MaintenanceSettings

__all__ = ["ALERT_TYPE", "alert_rule", "risk_condition"]

ALERT_TYPE = "maintenance.failure_risk"


def alert_rule(settings: MaintenanceSettings) -> AlertRule:
    """The maintenance alert: failure risk within the model's horizon, with hysteresis and minimum duration."""
    return AlertRule(
        alert_type=ALERT_TYPE, domain="maintenance", raise_above=settings.alert_above,
        clear_below=settings.clear_below, min_duration=timedelta(seconds=settings.min_duration_s),
        flap_window=timedelta(minutes=30), title="Machine failure expected within the horizon",
        severities=((settings.critical_above, "critical"), (settings.alert_above, "major")),
    )



def risk_condition(score: MaintenanceScore) -> Condition:
    """A score as a sample of the failure-risk condition, with its health, RUL and model as evidence."""
    evidence = {"health": score.health, "rul": score.rul, "rul_low": score.rul_low, "rul_high": score.rul_high,
                "rul_unit": score.rul_unit, "horizon": score.horizon, "model_id": score.model_id,
                "confidence": score.confidence, "anomaly": score.anomaly, "top_features": list(score.top_features)}
    return Condition("machine", score.machine_id, score.p_fail, score.at, evidence, (score.id,))
