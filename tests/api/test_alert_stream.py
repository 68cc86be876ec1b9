"""The live alert feed (``GET /api/v1/alerts/stream``, Server-Sent Events) against the real PostgreSQL:
authentication, role scoping, filters, one event per committed change in commit order, resuming with
``Last-Event-ID``, keep-alive comments; and the change log's commit-order guarantee underneath."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from api.app import create_app
from api.serving import api_server
from connectors.postgres.alert_feed import read_changes
from connectors.postgres.alerts import upsert_alert
from connectors.postgres.apikeys import create_api_key, revoke_api_key
from connectors.postgres.database import connect
from millstream.events.alerts import ALERT_DOMAINS, Alert
from millstream.settings import Settings, load_settings
from tests.helpers.api import auth, unique
from tests.helpers.net import free_port
from tests.helpers.sse import Sse, next_events, next_item, sse_items

STREAM = "/api/v1/alerts/stream"
KEEPALIVE_S = 0.3


def raise_alert(db: psycopg.Connection, domain: str = "maintenance", severity: str = "major",
                opened: datetime | None = None) -> Alert:
    opened = opened or datetime.now(UTC) - timedelta(minutes=1)
    kind = {"maintenance": "machine", "inventory": "material_location", "logistics": "shipment"}[domain]
    alert = Alert.model_validate({
        "subject_kind": kind, "subject_id": unique("SSE"), "alert_type": f"{domain}.stream_test", "domain": domain,
        "severity": severity, "title": "stream test", "opened_at": opened, "occurred_at": opened},
        context={"time_policy": None})
    upsert_alert(db, alert)
    db.commit()
    return alert


@pytest.fixture(scope="module")
def stream_client(api_settings: Settings) -> Iterator[TestClient]:
    """The API on the API tests' database, with keep-alive comments every fraction of a second."""
    settings = load_settings(
        database={"url": api_settings.database.url.get_secret_value(), "pool_max_size": 4},
        kafka={"bootstrap_servers": api_settings.kafka.bootstrap_servers,
               "topic_prefix": api_settings.kafka.topic_prefix},
        api={"sse_keepalive_s": KEEPALIVE_S})
    with TestClient(create_app(settings)) as client:
        yield client


@contextmanager
def opened(client: TestClient, token: str, last_event_id: str | None = None, **query: Any) -> Iterator[Iterator[Sse]]:
    headers = auth(token) | ({"Last-Event-ID": last_event_id} if last_event_id is not None else {})
    with client.stream("GET", STREAM, headers=headers, params=query) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield sse_items(response.iter_lines())


def snapshot_of(items: Iterator[Sse]) -> Sse:
    first = next(items)
    assert (first.kind, first.data) == ("retry", 2000)
    snapshot = next_item(items)
    assert snapshot.kind == "snapshot" and snapshot.id == str(snapshot.data["cursor"])
    return snapshot


def test_a_key_is_required(stream_client: TestClient, tokens: dict[str, str]) -> None:
    for headers in ({}, auth("mst_000000000000_" + "A" * 43), {"Authorization": f"Token {tokens['admin']}"}):
        with stream_client.stream("GET", STREAM, headers=headers) as response:
            assert response.status_code == 401
            assert response.read() == b'{"detail":"Not authenticated"}'
    with stream_client.stream("GET", STREAM, headers=auth(tokens["erp"])) as response:
        assert response.status_code == 403  # the ERP's key sees no alerts


def test_roles_see_their_domains_only(stream_client: TestClient, tokens: dict[str, str],
                                      db: psycopg.Connection) -> None:
    existing = {d: raise_alert(db, d) for d in ALERT_DOMAINS}
    with opened(stream_client, tokens["engineer"]) as items:
        in_snapshot = {a["id"]: a["domain"] for a in snapshot_of(items).data["alerts"]}
        assert existing["maintenance"].id in in_snapshot and existing["inventory"].id in in_snapshot
        assert set(in_snapshot.values()) <= {"maintenance", "inventory"}
        logistics = raise_alert(db, "logistics")
        inventory = raise_alert(db, "inventory")
        (event,) = next_events(items, 1)
        assert event.data["id"] == inventory.id  # the dispatcher's alert, committed first, never came
    with opened(stream_client, tokens["dispatcher"]) as items:
        ids = {a["id"] for a in snapshot_of(items).data["alerts"]}
        assert logistics.id in ids and inventory.id not in ids and existing["maintenance"].id not in ids
    with stream_client.stream("GET", STREAM, headers=auth(tokens["engineer"]), params={"domain": "logistics"}) as r:
        assert r.status_code == 403 and r.read() == b'{"detail":"Forbidden"}'


def test_filters_by_domain_and_severity(stream_client: TestClient, tokens: dict[str, str],
                                        db: psycopg.Connection) -> None:
    with opened(stream_client, tokens["admin"], domain=["maintenance"], severity=["critical", "minor"]) as items:
        alerts = snapshot_of(items).data["alerts"]
        assert all(a["domain"] == "maintenance" and a["severity"] in ("critical", "minor") for a in alerts)
        raise_alert(db, "maintenance", "major")
        raise_alert(db, "logistics", "critical")
        wanted = raise_alert(db, "maintenance", "critical")
        (event,) = next_events(items, 1)
        assert (event.data["id"], event.data["severity"]) == (wanted.id, "critical")
    bad = stream_client.get(STREAM, headers=auth(tokens["admin"]), params={"severity": "dire"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "severity", 0]


def test_one_event_per_change_in_order(stream_client: TestClient, client: TestClient, tokens: dict[str, str],
                                       db: psycopg.Connection) -> None:
    engineer = auth(tokens["engineer"])
    sent_before = REGISTRY.get_sample_value("millstream_alert_stream_events_total", {"kind": "alert"}) or 0
    with opened(stream_client, tokens["engineer"], domain=["maintenance"]) as items:
        cursor = int(snapshot_of(items).id or 0)
        assert REGISTRY.get_sample_value("millstream_alert_streams") == 1
        alert = raise_alert(db)
        upsert_alert(db, alert)  # the same alert again: no change, no event
        db.commit()
        assert client.post(f"/api/v1/alerts/{alert.id}/ack", headers=engineer).status_code == 200
        assert client.post(f"/api/v1/alerts/{alert.id}/clear", headers=engineer).status_code == 200
        events = next_events(items, 3)
        assert [(e.data["id"], e.data["state"]) for e in events] == [
            (alert.id, "open"), (alert.id, "acknowledged"), (alert.id, "cleared")]
        ids = [int(e.id or 0) for e in events]
        assert cursor < ids[0] < ids[1] < ids[2]
        assert events[1].data["acknowledged_by"] == f"apikey:{tokens['engineer'].split('_')[1]}"
        assert next_item(items).kind == "comment"  # idle: a keep-alive, nothing repeated
    assert REGISTRY.get_sample_value("millstream_alert_stream_events_total", {"kind": "alert"}) == sent_before + 3


def test_resume_with_last_event_id_misses_nothing(stream_client: TestClient, client: TestClient,
                                                  tokens: dict[str, str], db: psycopg.Connection) -> None:
    with opened(stream_client, tokens["admin"]) as items:
        last_seen = snapshot_of(items).id
    # while the client is away: three changes
    first = raise_alert(db, "inventory", "minor")
    assert client.post(f"/api/v1/alerts/{first.id}/ack", headers=auth(tokens["admin"])).status_code == 200
    second = raise_alert(db, "logistics", "critical")
    with opened(stream_client, tokens["admin"], last_event_id=last_seen) as items:
        assert next(items).kind == "retry"
        events = next_events(items, 3)  # no snapshot: straight on with what followed
        assert [(e.data["id"], e.data["state"]) for e in events] == [
            (first.id, "open"), (first.id, "acknowledged"), (second.id, "open")]
        assert next_item(items).kind == "comment"
    with opened(stream_client, tokens["admin"], last_event_id=events[1].id) as items:
        assert next(items).kind == "retry"
        (event,) = next_events(items, 1)
        assert (event.id, event.data["id"]) == (events[2].id, second.id)


def test_an_id_the_log_does_not_cover_starts_from_a_snapshot(stream_client: TestClient, tokens: dict[str, str]
                                                             ) -> None:
    with opened(stream_client, tokens["admin"], last_event_id="999999999999") as items:
        assert snapshot_of(items).data["cursor"] < 999999999999
    bad = stream_client.get(STREAM, headers=auth(tokens["admin"]) | {"Last-Event-ID": "12; DROP"})
    assert bad.status_code == 422


def test_change_numbers_follow_commit_order(api_settings: Settings, db: psycopg.Connection) -> None:
    """The transaction that changed an alert first but committed last gets the later number, so a reader
    that has seen the earlier commit can never find a change before its cursor afterwards."""
    a, b = raise_alert(db), raise_alert(db)
    cursor = db.execute("SELECT coalesce(max(seq), 0) AS seq FROM alert_changes").fetchone()["seq"]
    db.commit()
    with connect(api_settings.database) as slow, connect(api_settings.database) as fast:
        slow.execute("UPDATE alerts SET severity = 'critical' WHERE id = %s", (a.id,))
        fast.execute("UPDATE alerts SET severity = 'critical' WHERE id = %s", (b.id,))
        fast.commit()
        seen = read_changes(db, cursor, domains=ALERT_DOMAINS)
        db.commit()
        slow.commit()
    assert [c.alert.id for c in seen] == [b.id]
    after = read_changes(db, cursor, domains=ALERT_DOMAINS)
    assert [c.alert.id for c in after] == [b.id, a.id]
    assert after[1].seq > seen[0].seq and after[1].alert.severity == "critical"


def test_open_streams_end_cleanly_when_the_server_stops(api_settings: Settings, tokens: dict[str, str]) -> None:
    """uvicorn waits for running responses before it stops; the streams end when asked, so ``api serve``
    stops at once and clients see a properly finished response (then reconnect)."""
    port = free_port()
    server = api_server(create_app(api_settings), host="127.0.0.1", port=port, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started:
            break
        time.sleep(0.01)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as http, \
            http.stream("GET", STREAM, headers=auth(tokens["admin"])) as response:
        items = sse_items(response.iter_lines())
        snapshot_of(items)
        server.handle_exit(signal.SIGTERM, None)
        rest = list(items)  # ends without an error: the server finished the response
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert all(item.kind in ("comment", "alert") for item in rest)


def test_a_revoked_key_ends_the_stream(stream_client: TestClient, db: psycopg.Connection) -> None:
    issued = create_api_key(db, "engineer", "revoked while streaming")
    db.commit()
    with opened(stream_client, issued.token) as items:
        snapshot_of(items)
        assert next_item(items).kind == "comment"  # still going
        revoke_api_key(db, issued.key.key_id)
        db.commit()
        rest = list(items)  # the stream ends by itself (at the next keep-alive check)
    assert all(item.kind == "comment" for item in rest)
    with stream_client.stream("GET", STREAM, headers=auth(issued.token)) as response:
        assert response.status_code == 401
