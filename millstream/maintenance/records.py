"""ERP records of the maintenance pipeline: a maintenance notification when a failure-risk alert opens or
becomes more severe (its event id derives from the alert and severity, so a replay appends nothing new)."""

from __future__ import annotations

from typing import Any

from millstream.events.alerts import ALERT_SEVERITIES, Alert
from millstream.events.erp import ErpKeys, ErpRecord
from millstream.masterdata import Scenario

__all__ = ["NOTIFICATION", "notification_for", "notifier"]

NOTIFICATION = "production.maintenance_notification"


def notification_for(alert: Alert, scenario: Scenario) -> ErpRecord:
    """The ERP maintenance notification of an alert that opened or escalated."""
    machine = next((m for m in scenario.machines if m.id == alert.subject_id), None)
    keys = ErpKeys(machine=alert.subject_id, site=machine.site_id if machine else None,
                   location=machine.location_id if machine else None)
    ev = alert.evidence
    payload = {"alert_id": alert.id, "severity": alert.severity, "opened_at": alert.opened_at.isoformat(),
               "failure_probability": ev.get("value"), "rul": ev.get("rul"), "rul_low": ev.get("rul_low"),
               "rul_high": ev.get("rul_high"), "rul_unit": ev.get("rul_unit"), "horizon": ev.get("horizon"),
               "health": ev.get("health"), "model_id": ev.get("model_id"), "evidence": ev.get("top_features", []),
               "machine_name": machine.name if machine else None}
    return ErpRecord(subject_kind="machine", subject_id=alert.subject_id, occurred_at=alert.occurred_at,
                     record_type=NOTIFICATION, record_key=f"maintenance/{alert.subject_id}/{alert.id}", erp_keys=keys,
                     payload=payload, evidence_ids=alert.evidence_ids[-5:])


def notifier(scenario: Scenario) -> Any:
    """Per machine: an ERP record when an alert opens (a new episode) or becomes more severe."""

    def step(notified: dict[str, str] | None, alert: Alert) -> tuple[dict[str, str] | None, list[ErpRecord]]:
        notified = notified or {}
        if not alert.active:
            return notified, []
        previous = notified.get(alert.id)
        if previous is not None and ALERT_SEVERITIES.index(alert.severity) >= ALERT_SEVERITIES.index(previous):
            return notified, []
        notified = {alert.id: alert.severity}
        return notified, [notification_for(alert, scenario)]

    return step
