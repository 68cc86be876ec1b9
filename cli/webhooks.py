"""``millstream webhooks``: endpoints, deliveries, replay, and ``send-test`` (a signed example event).

``add`` and ``replay`` write an audit log entry (actor ``cli:<user>``) in the same transaction as the change.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
import typer
from pydantic import ValidationError

from cli.common import EXIT_UNAVAILABLE, JsonOption, console, fail, print_rows, settings
from connectors.erp.http_client import post_once
from connectors.erp.models import ErpError, WebhookEndpointCreate
from connectors.erp.signing import SignatureError, secret_key
from connectors.erp.subscriptions import create_endpoint, list_deliveries, list_endpoints, replay
from connectors.erp.targets import TargetError, redact_url
from connectors.erp.webhook_request import signed_request
from connectors.postgres.audit import cli_actor, record_change
from connectors.postgres.database import DatabaseError, connect
from millstream.events.base import utc_now
from millstream.events.erp import ErpKeys, ErpRecord
from millstream.serde import format_validation_error

__all__ = ["app", "example_record"]

app = typer.Typer(help="ERP webhook endpoints, deliveries and replay.", no_args_is_help=True)


@contextmanager
def _database() -> Iterator[Any]:
    try:
        with connect(settings().database, autocommit=True) as conn:
            yield conn
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except psycopg.errors.UndefinedTable:
        fail("webhook tables are missing: run `millstream db migrate` first")


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: not an ISO 8601 time: {value!r}")
    if parsed.tzinfo is None:
        fail(f"{option}: give a UTC offset (e.g. {value}Z or {value}+00:00)")
    return parsed


def example_record() -> ErpRecord:
    """The example event ``send-test`` sends: an ETA update of a demo shipment, with a fresh id."""
    now = utc_now().replace(microsecond=0)
    return ErpRecord(
        event_id="test_" + uuid.uuid4().hex, subject_kind="shipment", subject_id="SHP-TEST-0001",
        occurred_at=now, record_type="shipment.eta_update", record_key="SHP-TEST-0001",
        erp_keys=ErpKeys(shipment_number="SHP-TEST-0001", truck="TRK-TEST"),
        payload={"eta": now.isoformat(), "promised_to": now.isoformat(), "delay_min": 0, "test": True},
    )


@app.command("send-test")
def send_test_command(
    url: str = typer.Option(..., help="The receiver's URL."),
    secret: list[str] = typer.Option(..., help="whsec_ secret to sign with (repeat to sign with several)."),
    binary: bool = typer.Option(False, "--binary", help="CloudEvents binary mode instead of structured."),
) -> None:
    """Send one signed example CloudEvent to URL, as webhook services offer, and show the answer."""
    try:
        keys = [secret_key(s) for s in secret]
    except SignatureError as exc:
        fail(f"--secret: {exc}")
    record = example_record()
    headers, body = signed_request(record.model_dump(mode="json"), "binary" if binary else "structured", keys)
    answer = asyncio.run(post_once(url, body, headers, settings().webhooks.timeout_s))  # as the dispatcher posts
    if answer.status is None:
        fail(f"{redact_url(url)}: {answer.error}", EXIT_UNAVAILABLE)
    console.print(f"sent {record.id} ({record.cloudevent_type}) to {redact_url(url)}: HTTP {answer.status} "
                  f"{answer.excerpt}", highlight=False, markup=False)
    if not answer.ok:
        raise typer.Exit(1)


@app.command("add")
def add_command(
    url: str = typer.Option(..., help="Where the ERP receives webhooks."),
    event_type: list[str] = typer.Option([], help="Record type or domain pattern (shipment.*); repeat."),
    secret: list[str] = typer.Option([], help="whsec_ secret (default: a new one, shown once)."),
    binary: bool = typer.Option(False, "--binary", help="CloudEvents binary mode."),
    description: str = typer.Option("", help="What this endpoint is."),
) -> None:
    """Subscribe an endpoint; prints its id, and the secret when one was generated (shown once).
    Loopback and private URLs need MILLSTREAM_WEBHOOKS__ALLOW_PRIVATE_TARGETS=true."""
    try:
        spec = WebhookEndpointCreate.model_validate({
            "url": url, "event_types": event_type, "secrets": secret or None, "description": description,
            "content_mode": "binary" if binary else "structured"})
    except ValidationError as exc:
        fail(format_validation_error(exc))
    allow_private = settings().webhooks.allow_private_targets
    with _database() as conn, conn.transaction():
        try:
            endpoint = create_endpoint(conn, spec, allow_private_targets=allow_private)
        except TargetError as exc:
            fail(str(exc))
        details = spec.model_dump(mode="json", exclude={"secrets"})
        details["secrets_set"] = len(spec.secrets) if spec.secrets else 0
        record_change(conn, actor=cli_actor(), action="create", resource="webhook_endpoints",
                      resource_id=endpoint.id, details=details)
    console.print(f"endpoint {endpoint.id} -> {endpoint.url}", highlight=False, markup=False)
    if not secret:  # a secret the user gave is not echoed
        console.print(f"secret (shown once): {endpoint.secrets[0].get_secret_value()}", highlight=False,
                      markup=False)


@app.command("list")
def list_command(as_json: bool = JsonOption) -> None:
    """The subscribed endpoints."""
    with _database() as conn:
        endpoints = list_endpoints(conn, limit=1000)
    print_rows(["id", "url", "event types", "mode", "enabled", "note"],
               [[e.id, e.url, ", ".join(e.event_types) or "*", e.content_mode, "yes" if e.enabled else "no",
                 e.disabled_reason or e.description] for e in endpoints], as_json=as_json)


@app.command("deliveries")
def deliveries_command(
    status: str = typer.Option(None, help="pending, delivered or dead."),
    endpoint: str = typer.Option(None, help="Only this endpoint id."),
    limit: int = typer.Option(50, min=1, max=10_000),
    as_json: bool = JsonOption,
) -> None:
    """Recent deliveries (newest first)."""
    if status is not None and status not in ("pending", "delivered", "dead"):
        fail("--status: one of pending, delivered, dead")
    with _database() as conn:
        rows = list_deliveries(conn, status=status, endpoint_id=endpoint, limit=limit)
    lines = []
    for d in rows:
        last = str(d.last_status_code) if d.last_status_code is not None else (d.last_error or "")
        lines.append([str(d.id), d.event_id, d.endpoint_id, d.record_key, d.status, str(d.attempts), last,
                      d.next_attempt_at.isoformat() if d.status == "pending" else ""])
    print_rows(["id", "event", "endpoint", "key", "status", "attempts", "last", "next attempt"], lines,
               as_json=as_json, ids=3)


@app.command("replay")
def replay_command(
    event_id: str = typer.Option(None, "--event-id", help="Replay every delivery of this event."),
    since: str = typer.Option(None, help="Replay dead deliveries created at or after this time (ISO 8601)."),
    until: str = typer.Option(None, help="... and before this time (ISO 8601)."),
    endpoint: str = typer.Option(None, help="Only to this endpoint id."),
) -> None:
    """Queue deliveries again: one event, or the dead-lettered ones of a time range."""
    if event_id is None and since is None and until is None:
        fail("give --event-id or a time range (--since and/or --until)")
    start, end = _when(since, "--since"), _when(until, "--until")
    with _database() as conn, conn.transaction():
        try:
            count = replay(conn, event_id=event_id, since=start, until=end, endpoint_id=endpoint)
        except ErpError as exc:
            fail(str(exc))
        record_change(conn, actor=cli_actor(), action="replay", resource="webhook_endpoints", resource_id=endpoint,
                      details={"event_id": event_id, "since": start.isoformat() if start else None,
                               "until": end.isoformat() if end else None, "endpoint_id": endpoint,
                               "queued": count})
    console.print(f"{count} deliveries queued again; `millstream dispatch` sends them")
