"""Webhook subscriptions (endpoints), their deliveries and replay: the data access the API and CLI use.

Functions take a psycopg connection with ``row_factory=dict_row`` and write inside ``conn.transaction()``
(committed at once on an autocommit connection; a savepoint the caller commits when a transaction is open).

Endpoint URLs are checked by :func:`connectors.erp.targets.check_target` whenever they are set: loopback and
private targets need ``allow_private_targets`` (the ``MILLSTREAM_WEBHOOKS__ALLOW_PRIVATE_TARGETS`` setting).

Replay puts deliveries back in the queue (``pending``, attempts reset, due now):
- ``event_id`` given: every delivery of that event (any status); with ``endpoint_id`` too, a delivery is
  created if that endpoint never had one (e.g. it subscribed later);
- otherwise the ``dead`` deliveries created in ``[since, until)`` (optionally of one endpoint).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from connectors.erp.models import (
    Delivery,
    DeliveryAttempt,
    ErpError,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointUpdate,
)
from connectors.erp.signing import generate_secret
from connectors.erp.targets import check_target
from millstream.events.base import utc_now

__all__ = [
    "create_endpoint",
    "delete_endpoint",
    "disable_endpoint",
    "get_delivery",
    "get_endpoint",
    "list_attempts",
    "list_deliveries",
    "list_endpoints",
    "replay",
    "update_endpoint",
]


def _endpoint(row: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint.model_validate(row)


def create_endpoint(conn: Any, spec: WebhookEndpointCreate, *, allow_private_targets: bool = False
                    ) -> WebhookEndpoint:
    """Store a new endpoint (a secret is generated when ``spec.secrets`` is empty) and return it, secrets
    included: show them to the caller once. A URL :func:`check_target` refuses raises ``TargetError``."""
    check_target(str(spec.url), allow_private=allow_private_targets)
    secrets = [s.get_secret_value() for s in spec.secrets] if spec.secrets else [generate_secret()]
    with conn.transaction():
        row = conn.execute(
            """INSERT INTO webhook_endpoints (id, url, description, event_types, secrets, enabled, content_mode)
               VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *""",
            ("ep_" + uuid.uuid4().hex, str(spec.url), spec.description, spec.event_types, secrets,
             spec.enabled, spec.content_mode),
        ).fetchone()
    return _endpoint(row)


def get_endpoint(conn: Any, endpoint_id: str) -> WebhookEndpoint | None:
    row = conn.execute("SELECT * FROM webhook_endpoints WHERE id = %s", (endpoint_id,)).fetchone()
    return None if row is None else _endpoint(row)


def list_endpoints(conn: Any, *, enabled: bool | None = None, limit: int = 100, offset: int = 0
                   ) -> list[WebhookEndpoint]:
    rows = conn.execute(
        """SELECT * FROM webhook_endpoints WHERE (%s::boolean IS NULL OR enabled = %s::boolean)
           ORDER BY created_at, id LIMIT %s OFFSET %s""",
        (enabled, enabled, max(0, min(limit, 10_000)), max(0, offset)),
    ).fetchall()
    return [_endpoint(r) for r in rows]


def update_endpoint(conn: Any, endpoint_id: str, change: WebhookEndpointUpdate, *,
                    allow_private_targets: bool = False) -> WebhookEndpoint | None:
    """Apply the fields set in ``change``; ``None`` if there is no such endpoint. A new URL
    :func:`check_target` refuses raises ``TargetError``."""
    if change.url is not None:
        check_target(str(change.url), allow_private=allow_private_targets)
    fields = change.model_dump(exclude_unset=True)
    sets: list[str] = []
    params: list[Any] = []
    for name in ("url", "description", "event_types", "enabled", "content_mode"):
        if name in fields and fields[name] is not None:
            sets.append(f"{name} = %s")
            params.append(str(fields[name]) if name == "url" else fields[name])
    if change.secrets is not None:
        sets.append("secrets = %s")
        params.append([s.get_secret_value() for s in change.secrets])
    if change.enabled:
        sets.append("disabled_reason = NULL")
    sets.append("updated_at = now()")
    with conn.transaction():
        row = conn.execute(
            f"UPDATE webhook_endpoints SET {', '.join(sets)} WHERE id = %s RETURNING *",  # noqa: S608 - fixed names
            [*params, endpoint_id],
        ).fetchone()
    return None if row is None else _endpoint(row)


def delete_endpoint(conn: Any, endpoint_id: str) -> bool:
    """Delete an endpoint and its deliveries; ``False`` if there was none."""
    with conn.transaction():
        return conn.execute("DELETE FROM webhook_endpoints WHERE id = %s RETURNING id",
                            (endpoint_id,)).fetchone() is not None


def disable_endpoint(conn: Any, endpoint_id: str, reason: str) -> None:
    """Stop delivering to an endpoint (e.g. it answered 410 Gone); its pending deliveries wait."""
    with conn.transaction():
        conn.execute(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = %s, updated_at = now() WHERE id = %s",
            (reason[:500], endpoint_id),
        )


_MAX_ID = 2**63 - 1


def get_delivery(conn: Any, delivery_id: int) -> Delivery | None:
    if not 0 < delivery_id <= _MAX_ID:
        return None
    row = conn.execute("SELECT * FROM webhook_deliveries WHERE id = %s", (delivery_id,)).fetchone()
    return None if row is None else Delivery.model_validate(row)


def list_deliveries(
    conn: Any,
    *,
    endpoint_id: str | None = None,
    status: str | None = None,
    event_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Delivery]:
    """Deliveries matching the filters, newest first."""
    rows = conn.execute(
        """SELECT * FROM webhook_deliveries
           WHERE (%(endpoint)s::text IS NULL OR endpoint_id = %(endpoint)s::text)
             AND (%(status)s::text IS NULL OR status = %(status)s::text)
             AND (%(event)s::text IS NULL OR event_id = %(event)s::text)
           ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s""",
        {"endpoint": endpoint_id, "status": status, "event": event_id,
         "limit": max(0, min(limit, 10_000)), "offset": max(0, offset)},
    ).fetchall()
    return [Delivery.model_validate(r) for r in rows]


def list_attempts(conn: Any, delivery_id: int) -> list[DeliveryAttempt]:
    """Every attempt of a delivery, first first."""
    if not 0 < delivery_id <= _MAX_ID:
        return []
    rows = conn.execute(
        """SELECT delivery_id, attempt, attempted_at, status_code, latency_ms, error, response_excerpt
           FROM webhook_attempts WHERE delivery_id = %s ORDER BY attempt, id""",
        (delivery_id,),
    ).fetchall()
    return [DeliveryAttempt.model_validate(r) for r in rows]


def replay(
    conn: Any,
    *,
    event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    endpoint_id: str | None = None,
    now: datetime | None = None,
) -> int:
    """Queue deliveries again (see the module docstring); returns how many were queued."""
    if event_id is None and since is None and until is None:
        msg = "replay needs an event id or a time range (since and/or until)"
        raise ErpError(msg)
    due = now or utc_now()
    with conn.transaction():
        created = 0
        if event_id is not None and endpoint_id is not None:
            created = conn.execute(
                """INSERT INTO webhook_deliveries
                       (endpoint_id, event_id, outbox_seq, record_key, event_type, next_attempt_at)
                   SELECT %s, o.event_id, o.seq, o.record_key, o.record_type, %s
                   FROM erp_outbox o WHERE o.event_id = %s
                     AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.id = %s)
                   ON CONFLICT (endpoint_id, event_id) DO NOTHING""",
                (endpoint_id, due, event_id, endpoint_id),
            ).rowcount
        if event_id is not None:
            status_clause = "event_id = %(event)s"
        else:
            status_clause = ("status = 'dead' AND (%(since)s::timestamptz IS NULL OR created_at >= %(since)s) "
                             "AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)")
        requeued = conn.execute(
            f"""UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = %(due)s,
                       dead_at = NULL, delivered_at = NULL, updated_at = now()
                WHERE {status_clause}
                  AND (%(endpoint)s::text IS NULL OR endpoint_id = %(endpoint)s::text)
                  AND NOT (status = 'pending' AND next_attempt_at = %(due)s)""",  # noqa: S608 - fixed clauses
            {"event": event_id, "since": since, "until": until, "endpoint": endpoint_id, "due": due},
        ).rowcount
    return created + requeued
