"""The command line: ``webhooks send-test`` checked by a receiver built only on ``standardwebhooks``
(the acceptance test), and ``webhooks add`` / ``dispatch --once`` / ``webhooks replay`` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from connectors.erp.outbox import append
from connectors.erp.signing import generate_secret
from connectors.erp.subscriptions import list_endpoints
from connectors.postgres.audit import list_audit
from tests.helpers.erp_factories import shipment_record, unique

pytestmark = pytest.mark.subprocess

MILLSTREAM = str(Path(sys.executable).parent / "millstream")


def millstream(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MILLSTREAM, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


class StandardWebhooksReceiver:
    """Nothing but the standard library's HTTP server and the official ``standardwebhooks`` package."""

    def __init__(self, secret: str) -> None:
        self.verified: list[dict] = []
        self.rejected: list[str] = []
        webhook = Webhook(secret)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    payload = webhook.verify(body, dict(self.headers.items()))
                except WebhookVerificationError as exc:
                    outer.rejected.append(str(exc))
                    self.send_response(401)
                else:
                    outer.verified.append(payload)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver_secret() -> str:
    return generate_secret()


@pytest.fixture
def standard_receiver(receiver_secret: str) -> Iterator[StandardWebhooksReceiver]:
    receiver = StandardWebhooksReceiver(receiver_secret)
    yield receiver
    receiver.server.shutdown()


def test_send_test_is_verified_by_the_official_package(standard_receiver, receiver_secret):
    result = millstream("webhooks", "send-test", "--url", standard_receiver.url, "--secret", receiver_secret)
    assert result.returncode == 0, result.stderr
    assert "HTTP 204" in result.stdout
    [event] = standard_receiver.verified
    assert event["specversion"] == "1.0" and event["type"] == "io.millstream.erp.shipment.eta_update"
    assert event["data"]["erp_keys"]["shipment_number"] == "SHP-TEST-0001"
    assert receiver_secret not in result.stdout + result.stderr


def test_send_test_during_rotation_and_with_a_wrong_secret(standard_receiver, receiver_secret):
    rotated = millstream("webhooks", "send-test", "--url", standard_receiver.url,
                         "--secret", generate_secret(), "--secret", receiver_secret)
    assert rotated.returncode == 0, rotated.stderr
    wrong = millstream("webhooks", "send-test", "--url", standard_receiver.url, "--secret", generate_secret())
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stdout
    assert len(standard_receiver.verified) == 1
    assert standard_receiver.rejected == ["No matching signature found"]
    bad = millstream("webhooks", "send-test", "--url", standard_receiver.url, "--secret", "hunter2")
    assert bad.returncode == 1 and "--secret: webhook secret must start with 'whsec_'" in bad.stderr


def test_add_dispatch_and_replay_from_the_command_line(erp_settings, erp_db, erp, secret):
    env = {"MILLSTREAM_DATABASE__URL": erp_settings.database.url.get_secret_value(),
           "MILLSTREAM_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true"}
    added = millstream("webhooks", "add", "--url", erp.url, "--secret", secret, "--event-type", "shipment.*",
                       env=env)
    assert added.returncode == 0, added.stderr
    assert secret not in added.stdout + added.stderr and "shown once" not in added.stdout  # the user's own secret
    record = shipment_record(unique("SHP"))
    append(erp_db, record)
    dispatched = millstream("dispatch", "--once", env=env)
    assert dispatched.returncode == 0, dispatched.stderr
    assert "delivered 1" in dispatched.stdout
    assert [r.webhook_id for r in erp.records()] == [record.id]

    replayed = millstream("webhooks", "replay", "--event-id", record.id, env=env)
    assert replayed.returncode == 0 and "1 deliveries queued again" in replayed.stdout
    assert millstream("dispatch", "--once", env=env).returncode == 0
    assert erp.duplicates == 1 and len(erp.records()) == 1  # the ERP ignores the repeated webhook id

    naive = millstream("webhooks", "replay", "--since", "2026-11-21T08:00:00", env=env)
    assert naive.returncode == 1 and "UTC offset" in naive.stderr

    entries = list_audit(erp_db, resource="webhook_endpoints")
    assert [(e.action, e.actor.split(":")[0]) for e in reversed(entries)] == [("create", "cli"), ("replay", "cli")]
    replayed_entry, created_entry = entries
    assert replayed_entry.details["event_id"] == record.id and replayed_entry.details["queued"] == 1
    assert created_entry.details["event_types"] == ["shipment.*"] and created_entry.details["secrets_set"] == 1
    assert secret not in str(created_entry.details)


def test_add_shows_a_generated_secret_once_and_refuses_private_urls(erp_settings, erp_db):
    env = {"MILLSTREAM_DATABASE__URL": erp_settings.database.url.get_secret_value(),
           "MILLSTREAM_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "false"}
    refused = millstream("webhooks", "add", "--url", "http://127.0.0.1:9/erp", env=env)
    assert refused.returncode == 1 and "ALLOW_PRIVATE_TARGETS" in refused.stderr
    assert list_audit(erp_db, resource="webhook_endpoints") == []
    added = millstream("webhooks", "add", "--url", "https://93.184.216.34/erp", env=env)
    assert added.returncode == 0, added.stderr
    [endpoint] = list_endpoints(erp_db)
    generated = endpoint.secrets[0].get_secret_value()
    assert f"secret (shown once): {generated}" in added.stdout
    [entry] = list_audit(erp_db, resource="webhook_endpoints")
    assert entry.resource_id == endpoint.id and entry.action == "create" and generated not in str(entry.details)
