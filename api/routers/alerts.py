"""Alerts: list and filter, read, acknowledge, clear.

Who sees what: engineers see maintenance and inventory alerts (machines, stock), dispatchers logistics
alerts (shipments, trucks), admins all. Asking for a domain outside one's role is 403; an alert outside it
is 404 (as if it did not exist). Acknowledging and clearing are recorded on the alert (by whom, when) and in
the audit log, in one transaction; a change the alert's state does not allow is 409. Once committed, the
changed alert is published to the ``alerts`` topic (key ``<subject_kind>:<subject_id>``, as the pipelines
publish theirs), so the topic carries every lifecycle change.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from confluent_kafka import KafkaException
from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel

from api.deps import AlertsUser, AppProducer, Connection, forbidden
from connectors.kafka.topics import ALERTS
from connectors.postgres.alerts import acknowledge_alert, clear_alert, get_alert, list_alerts
from connectors.postgres.apikeys import ApiKey
from connectors.postgres.audit import record_change
from millstream.events.alerts import ALERT_DOMAINS, Alert, AlertDomain, AlertSeverity, AlertState, AlertTransitionError
from millstream.events.outputs import SubjectKind

__all__ = ["ROLE_DOMAINS", "AlertPublic", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"])

#: The alert domains each role may see and act on.
ROLE_DOMAINS: dict[str, tuple[AlertDomain, ...]] = {
    "engineer": ("maintenance", "inventory"),
    "dispatcher": ("logistics",),
    "admin": ALERT_DOMAINS,
}

AlertId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


class AlertPublic(BaseModel):
    """An alert as users see it."""

    id: str
    subject_kind: str
    subject_id: str
    alert_type: str
    domain: AlertDomain
    severity: AlertSeverity
    state: AlertState
    title: str
    opened_at: datetime
    occurred_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    trigger_count: int
    details: dict[str, Any]
    evidence: dict[str, Any]
    evidence_ids: list[str]

    @classmethod
    def of(cls, alert: Alert) -> AlertPublic:
        return cls.model_validate({**alert.model_dump(mode="json", exclude={"event_id"}), "id": alert.id})


def _visible(caller: ApiKey, alert: Alert | None) -> Alert:
    if alert is None or alert.domain not in ROLE_DOMAINS[caller.role]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return alert


@router.get("", response_model=list[AlertPublic], summary="List alerts, newest first")
def read_alerts(
    conn: Connection, caller: AlertsUser,
    domain: Annotated[list[AlertDomain] | None, Query(description="maintenance, inventory, logistics")] = None,
    state: Annotated[list[AlertState] | None, Query(description="open, acknowledged, cleared")] = None,
    severity: Annotated[list[AlertSeverity] | None, Query(description="critical, major, minor, warning")] = None,
    subject_kind: Annotated[list[SubjectKind] | None, Query()] = None,
    subject_id: Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AlertPublic]:
    allowed = ROLE_DOMAINS[caller.role]
    if domain and not set(domain) <= set(allowed):
        raise forbidden()
    alerts = list_alerts(conn, domain=domain or allowed, state=state, severity=severity,
                         subject_kind=subject_kind, subject_id=subject_id, limit=limit, offset=offset)
    return [AlertPublic.of(a) for a in alerts]


@router.get("/{alert_id}", response_model=AlertPublic, summary="Read an alert",
            responses={404: {"description": "No such alert (or not one your role sees)."}})
def read_alert(conn: Connection, caller: AlertsUser, alert_id: AlertId) -> AlertPublic:
    return AlertPublic.of(_visible(caller, get_alert(conn, alert_id)))


_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such alert (or not one your role sees)."},
    409: {"description": "The alert's state does not allow this change."},
}


def _change(conn: Connection, producer: AppProducer, caller: ApiKey, alert_id: str, action: str) -> AlertPublic:
    change = acknowledge_alert if action == "acknowledge" else clear_alert
    with conn.transaction():
        _visible(caller, get_alert(conn, alert_id))
        try:
            changed = change(conn, alert_id, caller.actor)
        except AlertTransitionError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        if changed is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
        record_change(conn, actor=caller.actor, role=caller.role, action=action, resource="alerts",
                      resource_id=alert_id, details={"state": changed.state, "domain": changed.domain})
    try:  # after the commit: the database is the record, the topic follows it
        producer.send(ALERTS, changed)
    except KafkaException as exc:
        logger.error("alert %s %s but not published to %s: %s", alert_id, changed.state, ALERTS.name, exc)
    return AlertPublic.of(changed)


@router.post("/{alert_id}/ack", response_model=AlertPublic, summary="Acknowledge an open alert",
             responses=_CHANGE_RESPONSES)
def acknowledge(conn: Connection, producer: AppProducer, caller: AlertsUser, alert_id: AlertId) -> AlertPublic:
    return _change(conn, producer, caller, alert_id, "acknowledge")


@router.post("/{alert_id}/clear", response_model=AlertPublic, summary="Clear an open or acknowledged alert",
             responses=_CHANGE_RESPONSES)
def clear(conn: Connection, producer: AppProducer, caller: AlertsUser, alert_id: AlertId) -> AlertPublic:
    return _change(conn, producer, caller, alert_id, "clear")
