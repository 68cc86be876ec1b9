"""What the UI's charts and panels read, on a database of their own (so the counts are exactly the rows
inserted here): alerts opened per bucket and severity (role-scoped), delivery attempts succeeded/failed per
bucket, OPC-UA endpoint status, and ``GET /me``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api.app import create_app
from connectors.postgres.alerts import upsert_alerts
from connectors.postgres.apikeys import ROLES, create_api_key
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.events.alerts import Alert
from millstream.settings import load_settings
from tests.helpers.api import auth
from tests.helpers.databases import create_database, drop_database

T0 = datetime(2031, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(server_url: str, kafka_bootstrap: str) -> Iterator[tuple[TestClient, psycopg.Connection, dict[str, str]]]:
    url = create_database(server_url, "millstream_counts")
    settings = load_settings(database={"url": url, "pool_max_size": 2},
                             kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": f"c{uuid.uuid4().hex[:8]}."})
    with connect(settings.database) as conn:
        migrate(conn, settings.database)
    with connect(settings.database, autocommit=True) as db, TestClient(create_app(settings)) as client:
        tokens = {role: create_api_key(db, role, f"counts {role}").token for role in ROLES}
        yield client, db, tokens
    drop_database(url)


def alert(domain: str, severity: str, opened: datetime) -> Alert:
    return Alert.model_validate({
        "subject_kind": "machine" if domain == "maintenance" else "shipment", "subject_id": uuid.uuid4().hex[:8],
        "alert_type": f"{domain}.count_test", "domain": domain, "severity": severity, "opened_at": opened,
        "occurred_at": opened}, context={"time_policy": None})


def test_alert_counts_per_bucket_and_role(world: tuple[TestClient, psycopg.Connection, dict[str, str]]) -> None:
    client, db, tokens = world
    empty = client.get("/api/v1/alerts/counts", headers=auth(tokens["admin"]))
    assert empty.status_code == 200 and empty.json() == {"bucket_seconds": 3600, "buckets": []}
    upsert_alerts(db, [
        alert("maintenance", "critical", T0 - timedelta(hours=2, minutes=10)),
        alert("maintenance", "critical", T0 - timedelta(hours=2, minutes=50)),
        alert("maintenance", "minor", T0 + timedelta(minutes=5)),
        alert("maintenance", "major", T0 - timedelta(hours=30)),  # before the window
        alert("logistics", "warning", T0 + timedelta(minutes=20)),
    ])
    engineer = client.get("/api/v1/alerts/counts", headers=auth(tokens["engineer"]),
                          params={"bucket": "hour", "buckets": 4}).json()
    assert [b["start"] for b in engineer["buckets"]] == [
        (T0 - timedelta(hours=h)).isoformat().replace("+00:00", "Z") for h in (3, 2, 1, 0)]
    assert [b["counts"] for b in engineer["buckets"]] == [{"critical": 2}, {}, {}, {"minor": 1}]
    admin = client.get("/api/v1/alerts/counts", headers=auth(tokens["admin"]), params={"buckets": 1}).json()
    assert admin["buckets"] == [{"start": "2031-03-04T10:00:00Z", "counts": {"minor": 1, "warning": 1}}]
    day = client.get("/api/v1/alerts/counts", headers=auth(tokens["dispatcher"]), params={"bucket": "day",
                                                                                           "buckets": 2}).json()
    assert day["bucket_seconds"] == 86400 and [b["counts"] for b in day["buckets"]] == [{}, {"warning": 1}]
    assert client.get("/api/v1/alerts/counts", headers=auth(tokens["dispatcher"]),
                      params={"domain": "maintenance"}).status_code == 403


def test_attempt_counts_split_success_and_failure(world: tuple[TestClient, psycopg.Connection, dict[str, str]]
                                                  ) -> None:
    client, db, tokens = world
    db.execute("INSERT INTO webhook_endpoints (id, url, secrets) VALUES ('ep_a', 'https://erp.example/a', '{s}'),"
               " ('ep_b', 'https://erp.example/b', '{s}')")
    db.execute("""INSERT INTO erp_outbox (event_id, record_type, record_key, subject_kind, subject_id, occurred_at,
                  erp_keys, record) VALUES ('ev1', 'shipment.eta_update', 'K', 'shipment', 'S', %s, %s, %s)""",
               (T0, Jsonb({}), Jsonb({})))
    ids = {}
    for endpoint in ("ep_a", "ep_b"):
        ids[endpoint] = db.execute(
            """INSERT INTO webhook_deliveries (endpoint_id, event_id, outbox_seq, record_key, event_type,
               next_attempt_at) VALUES (%s, 'ev1', 1, 'K', 'shipment.eta_update', %s) RETURNING id""",
            (endpoint, T0)).fetchone()["id"]
    attempts = [("ep_a", T0, 200), ("ep_a", T0 + timedelta(minutes=1), 503), ("ep_a", T0 - timedelta(hours=1), None),
                ("ep_b", T0 + timedelta(minutes=2), 204)]
    for n, (endpoint, at, code) in enumerate(attempts, 1):
        db.execute("""INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error)
                      VALUES (%s, %s, %s, %s, 1.0, %s)""", (ids[endpoint], n, at, code, None if code else "timeout"))
    every = client.get("/api/v1/webhooks/attempts/counts", headers=auth(tokens["erp"]), params={"buckets": 2}).json()
    assert every == {"bucket_seconds": 3600, "buckets": [
        {"start": "2031-03-04T09:00:00Z", "succeeded": 0, "failed": 1},
        {"start": "2031-03-04T10:00:00Z", "succeeded": 2, "failed": 1}]}
    one = client.get("/api/v1/webhooks/attempts/counts", headers=auth(tokens["admin"]),
                     params={"buckets": 1, "endpoint_id": "ep_b"}).json()
    assert one["buckets"] == [{"start": "2031-03-04T10:00:00Z", "succeeded": 1, "failed": 0}]


def test_opcua_endpoints_and_me(world: tuple[TestClient, psycopg.Connection, dict[str, str]]) -> None:
    client, db, tokens = world
    assert client.get("/api/v1/opcua/endpoints", headers=auth(tokens["engineer"])).json() == []
    event = uuid.uuid4()
    db.execute("""INSERT INTO opcua_endpoint_status (endpoint, url, state, since, offline_since, attempts, reason,
                  event_id) VALUES ('press-1', 'opc.tcp://10.0.0.5:4840', 'offline', %s, %s, 3, 'timeout', %s)""",
               (T0, T0, event))
    (status,) = client.get("/api/v1/opcua/endpoints", headers=auth(tokens["engineer"])).json()
    assert status == {"endpoint": "press-1", "url": "opc.tcp://10.0.0.5:4840", "state": "offline",
                      "since": "2031-03-04T10:00:00Z", "offline_since": "2031-03-04T10:00:00Z", "attempts": 3,
                      "reason": "timeout", "event_id": str(event)}
    me = client.get("/api/v1/me", headers=auth(tokens["engineer"])).json()
    assert me["role"] == "engineer" and me["alert_domains"] == ["maintenance", "inventory"]
    assert me["key_id"] == tokens["engineer"].split("_")[1] and "secret" not in str(me)
    assert client.get("/api/v1/me", headers=auth(tokens["erp"])).json()["alert_domains"] == []
