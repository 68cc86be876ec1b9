"""Alerts through the API: domain scoping per role, filters, acknowledge and clear with audit entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer
from fastapi.testclient import TestClient

from connectors.kafka.clients import consumer_config
from connectors.kafka.topics import ALERTS as ALERTS_TOPIC
from connectors.postgres.alerts import upsert_alert
from millstream.events.alerts import Alert
from millstream.serde import decode
from millstream.settings import Settings
from tests.helpers.api import auth, unique

ALERTS = "/api/v1/alerts"


def raise_alert(db: psycopg.Connection, domain: str, subject_kind: str, severity: str = "major") -> Alert:
    opened = datetime.now(UTC) - timedelta(minutes=5)
    alert = Alert.model_validate({
        "subject_kind": subject_kind, "subject_id": unique("S"), "alert_type": f"{domain}.test_condition",
        "domain": domain, "severity": severity, "title": "test", "opened_at": opened, "occurred_at": opened,
        "evidence": {"value": 97.5}}, context={"time_policy": None})
    upsert_alert(db, alert)
    db.commit()
    return alert


@pytest.fixture
def alerts(db: psycopg.Connection) -> dict[str, Alert]:
    return {"maintenance": raise_alert(db, "maintenance", "machine", "critical"),
            "inventory": raise_alert(db, "inventory", "material_location", "warning"),
            "logistics": raise_alert(db, "logistics", "shipment", "major")}


def ids(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {a["id"] for a in response.json()}


def test_each_role_sees_its_domains(client: TestClient, tokens: dict[str, str], alerts: dict[str, Alert]) -> None:
    mine = {d: a.id for d, a in alerts.items()}
    params = {"limit": 1000}
    engineer = ids(client.get(ALERTS, params=params, headers=auth(tokens["engineer"])))
    dispatcher = ids(client.get(ALERTS, params=params, headers=auth(tokens["dispatcher"])))
    admin = ids(client.get(ALERTS, params=params, headers=auth(tokens["admin"])))
    assert {mine["maintenance"], mine["inventory"]} <= engineer and mine["logistics"] not in engineer
    assert mine["logistics"] in dispatcher and not {mine["maintenance"], mine["inventory"]} & dispatcher
    assert set(mine.values()) <= admin
    # asking for a domain outside one's role is refused; another's alert does not exist for you
    assert client.get(ALERTS, params={"domain": "logistics"}, headers=auth(tokens["engineer"])).status_code == 403
    hidden = client.get(f"{ALERTS}/{mine['logistics']}", headers=auth(tokens["engineer"]))
    assert hidden.status_code == 404
    assert client.post(f"{ALERTS}/{mine['maintenance']}/ack", headers=auth(tokens["dispatcher"])).status_code == 404
    assert client.get(ALERTS, headers=auth(tokens["erp"])).status_code == 403


def test_filters(client: TestClient, tokens: dict[str, str], alerts: dict[str, Alert]) -> None:
    admin = auth(tokens["admin"])
    critical = ids(client.get(ALERTS, params={"severity": "critical", "limit": 1000}, headers=admin))
    assert alerts["maintenance"].id in critical and alerts["logistics"].id not in critical
    two = ids(client.get(ALERTS, params=[("domain", "inventory"), ("domain", "logistics"), ("limit", "1000")],
                         headers=admin))
    assert {alerts["inventory"].id, alerts["logistics"].id} <= two and alerts["maintenance"].id not in two
    by_subject = client.get(ALERTS, params={"subject_id": alerts["logistics"].subject_id}, headers=admin).json()
    assert [a["id"] for a in by_subject] == [alerts["logistics"].id]
    assert by_subject[0]["evidence"] == {"value": 97.5} and by_subject[0]["state"] == "open"
    bad = client.get(ALERTS, params={"state": "closed"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "state", 0]


def test_acknowledge_then_clear_is_recorded(client: TestClient, tokens: dict[str, str],
                                            alerts: dict[str, Alert], db: psycopg.Connection) -> None:
    alert = alerts["maintenance"]
    engineer = auth(tokens["engineer"])
    key_id = tokens["engineer"].split("_")[1]
    acked = client.post(f"{ALERTS}/{alert.id}/ack", headers=engineer)
    assert acked.status_code == 200, acked.text
    assert acked.json()["state"] == "acknowledged" and acked.json()["acknowledged_by"] == f"apikey:{key_id}"
    again = client.post(f"{ALERTS}/{alert.id}/ack", headers=engineer)
    assert again.status_code == 409 and "acknowledged" in again.json()["detail"]
    cleared = client.post(f"{ALERTS}/{alert.id}/clear", headers=engineer).json()
    assert cleared["state"] == "cleared" and cleared["cleared_at"] is not None
    assert client.post(f"{ALERTS}/{alert.id}/clear", headers=engineer).status_code == 409
    assert client.get(f"{ALERTS}/{alert.id}", headers=engineer).json()["state"] == "cleared"
    rows = db.execute("SELECT actor, action FROM audit_log WHERE resource = 'alerts' AND resource_id = %s"
                      " ORDER BY id", (alert.id,)).fetchall()
    assert [(r["actor"], r["action"]) for r in rows] == [(f"apikey:{key_id}", "acknowledge"),
                                                         (f"apikey:{key_id}", "clear")]
    assert client.post(f"{ALERTS}/no-such-alert/ack", headers=engineer).status_code == 404


def test_acknowledge_and_clear_are_published_to_the_alerts_topic(client: TestClient, tokens: dict[str, str],
                                                                 alerts: dict[str, Alert],
                                                                 api_settings: Settings) -> None:
    """The ``alerts`` topic carries every lifecycle change, the API's included (real broker)."""
    alert = alerts["logistics"]
    dispatcher = auth(tokens["dispatcher"])
    assert client.post(f"{ALERTS}/{alert.id}/ack", headers=dispatcher).status_code == 200
    assert client.post(f"{ALERTS}/{alert.id}/clear", headers=dispatcher).status_code == 200
    assert client.post(f"{ALERTS}/{alert.id}/clear", headers=dispatcher).status_code == 409  # no change: none sent
    consumer = Consumer(consumer_config(api_settings.kafka, f"check-{unique('g')}"))
    consumer.subscribe([ALERTS_TOPIC.full_name(api_settings.kafka)])
    published: list[Alert] = []
    try:
        for _ in range(120):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.key() == alert.subject.encode():
                published.append(decode(msg.value(), Alert, time_policy=None))
            if len(published) >= 2:
                break
        for _ in range(4):  # nothing more for this alert (the refused clear sent nothing)
            msg = consumer.poll(0.25)
            if msg is not None and msg.error() is None and msg.key() == alert.subject.encode():
                published.append(decode(msg.value(), Alert, time_policy=None))
    finally:
        consumer.close()
    assert [(a.id, a.state) for a in published] == [(alert.id, "acknowledged"), (alert.id, "cleared")]
    key_id = tokens["dispatcher"].split("_")[1]
    assert published[0].acknowledged_by == f"apikey:{key_id}" and published[1].cleared_at is not None
