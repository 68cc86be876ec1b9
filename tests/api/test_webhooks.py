"""Webhook endpoints CRUD, deliveries and replay through the API (erp/admin), with audit entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from connectors.erp.outbox import append
from millstream.events.erp import ErpRecord
from millstream.settings import Settings, WebhookSettings
from tests.helpers.api import auth, unique

WH = "/api/v1/webhooks"


def test_endpoint_crud_shows_secrets_once(client: TestClient, tokens: dict[str, str],
                                          db: psycopg.Connection) -> None:
    erp = auth(tokens["erp"])
    created = client.post(f"{WH}/endpoints", json={"url": "http://127.0.0.1:9/erp", "event_types": ["shipment.*"]},
                          headers=erp)
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["secrets"][0]
    assert secret.startswith("whsec_") and body["secret_count"] == 1 and body["enabled"] is True
    endpoint_id = body["id"]

    read = client.get(f"{WH}/endpoints/{endpoint_id}", headers=erp)
    assert read.status_code == 200 and "secrets" not in read.json() and secret not in read.text
    assert endpoint_id in {e["id"] for e in client.get(f"{WH}/endpoints", headers=erp).json()}
    assert secret not in client.get(f"{WH}/endpoints", headers=erp).text

    changed = client.patch(f"{WH}/endpoints/{endpoint_id}", json={"enabled": False, "description": "paused"},
                           headers=erp).json()
    assert changed["enabled"] is False and changed["description"] == "paused" and "secrets" not in changed
    bad = client.patch(f"{WH}/endpoints/{endpoint_id}", json={"event_types": ["nonsense"]}, headers=erp)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "event_types"]
    assert client.post(f"{WH}/endpoints", json={"url": "ftp://x"}, headers=erp).status_code == 422

    assert client.delete(f"{WH}/endpoints/{endpoint_id}", headers=erp).status_code == 204
    assert client.get(f"{WH}/endpoints/{endpoint_id}", headers=erp).status_code == 404
    assert client.delete(f"{WH}/endpoints/{endpoint_id}", headers=erp).status_code == 404

    rows = db.execute("SELECT action, details::text AS details FROM audit_log"
                      " WHERE resource = 'webhook_endpoints' AND resource_id = %s ORDER BY id",
                      (endpoint_id,)).fetchall()
    assert [r["action"] for r in rows] == ["create", "update", "delete"]
    assert all(secret not in r["details"] for r in rows)


def _dead_delivery(db: psycopg.Connection, endpoint_id: str) -> tuple[str, int]:
    record = ErpRecord.model_validate({
        "record_type": "shipment.delay", "record_key": unique("SHP"), "subject_kind": "shipment",
        "subject_id": "SHP-1", "occurred_at": datetime.now(UTC) - timedelta(hours=1),
        "erp_keys": {"shipment_number": "SHP-1"}, "payload": {"delay_min": 42}}, context={"time_policy": None})
    append(db, record)
    row = db.execute(
        """INSERT INTO webhook_deliveries (endpoint_id, event_id, outbox_seq, record_key, event_type, status,
                                           attempts, next_attempt_at, dead_at, last_status_code)
           SELECT %s, event_id, seq, record_key, record_type, 'dead', 10, now(), now(), 500
           FROM erp_outbox WHERE event_id = %s RETURNING id""", (endpoint_id, record.id)).fetchone()
    db.execute("""INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms,
                                                response_excerpt) VALUES (%s, 1, now(), 500, 3.5, 'boom')""",
               (row["id"],))
    db.commit()
    return record.id, row["id"]


def test_deliveries_and_replay(client: TestClient, tokens: dict[str, str], db: psycopg.Connection) -> None:
    admin = auth(tokens["admin"])
    endpoint_id = client.post(f"{WH}/endpoints", json={"url": "http://127.0.0.1:9/erp"}, headers=admin).json()["id"]
    event_id, delivery_id = _dead_delivery(db, endpoint_id)

    dead = client.get(f"{WH}/deliveries", params={"endpoint_id": endpoint_id, "status": "dead"}, headers=admin)
    assert [d["id"] for d in dead.json()] == [delivery_id]
    detail = client.get(f"{WH}/deliveries/{delivery_id}", headers=admin).json()
    assert detail["event_id"] == event_id and detail["attempt_log"][0]["response_excerpt"] == "boom"
    assert client.get(f"{WH}/deliveries/999999999", headers=admin).status_code == 404

    assert client.post(f"{WH}/replay", json={}, headers=admin).status_code == 422
    replayed = client.post(f"{WH}/replay", json={"event_id": event_id}, headers=auth(tokens["erp"]))
    assert replayed.status_code == 200 and replayed.json() == {"queued": 1}
    again = client.get(f"{WH}/deliveries/{delivery_id}", headers=admin).json()
    assert again["status"] == "pending" and again["attempts"] == 0
    entry = db.execute("SELECT action, details FROM audit_log WHERE resource = 'webhook_endpoints'"
                       " AND action = 'replay' AND details->>'event_id' = %s", (event_id,)).fetchone()
    assert entry["details"]["queued"] == 1

    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    db.execute("UPDATE webhook_deliveries SET status = 'dead', dead_at = now() WHERE id = %s", (delivery_id,))
    db.commit()
    by_time = client.post(f"{WH}/replay", json={"since": since, "endpoint_id": endpoint_id}, headers=admin)
    assert by_time.json() == {"queued": 1}
    naive = client.post(f"{WH}/replay", json={"since": "2026-01-01T00:00:00"}, headers=admin)
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["body", "since"]


def test_other_roles_cannot_touch_webhooks(client: TestClient, tokens: dict[str, str]) -> None:
    for role in ("engineer", "dispatcher"):
        response = client.get(f"{WH}/endpoints", headers=auth(tokens[role]))
        assert response.status_code == 403 and response.json() == {"detail": "Forbidden"}




def test_private_targets_are_refused_unless_allowed(api_settings: Settings, tokens: dict[str, str],
                                                    db: psycopg.Connection) -> None:
    """SSRF guard: with the default settings loopback, private and link-local URLs are a 422 on ``url``."""
    strict = api_settings.model_copy(update={"webhooks": WebhookSettings()})
    assert strict.webhooks.allow_private_targets is False
    erp = auth(tokens["erp"])
    with TestClient(create_app(strict)) as client:
        for url in ("http://127.0.0.1:8080/erp", "http://localhost/erp", "http://erp.localhost/x",
                    "http://10.1.2.3/erp", "http://192.168.0.10/erp", "http://169.254.169.254/latest/meta-data",
                    "http://[::1]:9/erp", "http://[::ffff:127.0.0.1]/erp", "http://0.0.0.0/erp",
                    "http://100.64.0.1/erp", "http://2130706433/erp"):
            refused = client.post(f"{WH}/endpoints", json={"url": url}, headers=erp)
            assert refused.status_code == 422, (url, refused.text)
            [error] = refused.json()["detail"]
            assert error["loc"] == ["body", "url"] and "ALLOW_PRIVATE_TARGETS" in error["msg"], url
        public = client.post(f"{WH}/endpoints", json={"url": "https://93.184.216.34/erp"}, headers=erp)
        assert public.status_code == 201, public.text
        endpoint_id = public.json()["id"]
        moved = client.patch(f"{WH}/endpoints/{endpoint_id}", json={"url": "http://10.0.0.5/erp"}, headers=erp)
        assert moved.status_code == 422 and moved.json()["detail"][0]["loc"] == ["body", "url"]
        assert client.get(f"{WH}/endpoints/{endpoint_id}", headers=erp).json()["url"] == "https://93.184.216.34/erp"
        assert client.patch(f"{WH}/endpoints/{endpoint_id}", json={"enabled": False}, headers=erp).status_code == 200
    count = db.execute("SELECT count(*) AS n FROM webhook_endpoints WHERE url LIKE %s OR url LIKE %s",
                       ("%169.254%", "%10.0.0.5%")).fetchone()["n"]
    assert count == 0
