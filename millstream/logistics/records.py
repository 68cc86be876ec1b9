"""ERP shipment records (through the outbox): status changes, milestones, ETA updates and delays.

Every record's id is stable (record type + ``shipment:<id>`` + subject + event time), so a replay of the
same pings produces the same records and the outbox keeps one of each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from millstream.events.alerts import Alert
from millstream.events.erp import ErpKeys, ErpRecord
from millstream.logistics.eta import Eta

__all__ = ["delay_record", "eta_record", "milestone_record", "status_record"]


def _record(record_type: str, shipment_id: str, truck_id: str | None, at: datetime, payload: dict[str, Any],
            evidence: tuple[str, ...] = ()) -> ErpRecord:
    return ErpRecord(record_type=record_type, record_key=f"shipment:{shipment_id}",  # type: ignore[arg-type]
                     erp_keys=ErpKeys(shipment_number=shipment_id, truck=truck_id), subject_kind="shipment",
                     subject_id=shipment_id, occurred_at=at, payload=payload, evidence_ids=evidence)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def status_record(shipment_id: str, truck_id: str, previous: str, status: str, at: datetime,
                  evidence: tuple[str, ...] = ()) -> ErpRecord:
    return _record("shipment.status_change", shipment_id, truck_id, at,
                   {"previous_status": previous, "status": status, "at": _iso(at)}, evidence)


def milestone_record(shipment_id: str, truck_id: str, milestone: str, at: datetime, site_id: str | None,
                     lon: float | None, lat: float | None, evidence: tuple[str, ...] = ()) -> ErpRecord:
    payload = {"milestone": milestone, "at": _iso(at), "site_id": site_id, "lat": lat, "lon": lon}
    return _record("shipment.milestone", shipment_id, truck_id, at, payload, evidence)


def eta_record(shipment_id: str, truck_id: str, eta: Eta, promised_to: datetime,
               evidence: tuple[str, ...] = ()) -> ErpRecord:
    payload = {"eta": _iso(eta.eta), "eta_low": _iso(eta.low), "eta_high": _iso(eta.high),
               "remaining_km": round(eta.remaining_m / 1000.0, 2), "promised_to": _iso(promised_to),
               "lateness_min": round((eta.eta - promised_to).total_seconds() / 60.0, 1)}
    return _record("shipment.eta_update", shipment_id, truck_id, eta.at, payload, evidence)


def delay_record(alert: Alert) -> ErpRecord:
    """A ``shipment.delay`` record for a change of a delay alert (raised, escalated, cleared)."""
    evidence = alert.evidence
    payload = {"alert_id": alert.id, "state": alert.state, "severity": alert.severity,
               "lateness_min": evidence.get("value"), "eta": evidence.get("eta"),
               "promised_to": evidence.get("promised_to"), "opened_at": _iso(alert.opened_at)}
    return _record("shipment.delay", alert.subject_id, evidence.get("truck_id"), alert.occurred_at, payload,
                   alert.evidence_ids)
