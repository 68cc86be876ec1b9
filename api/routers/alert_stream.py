"""The live alert feed: ``GET /alerts/stream`` (Server-Sent Events) and ``GET /alerts/counts`` (alerts opened
over time, for the feed's chart). Role-scoped like ``GET /alerts``: engineers see maintenance and inventory,
dispatchers logistics, admins all; asking for another domain is 403.

The stream (``text/event-stream``; the key goes in the ``Authorization`` header, browsers read it with
``fetch()``, never with the key in the URL):

- ``retry: 2000`` first (how long a client waits before reconnecting);
- without ``Last-Event-ID`` (or with one the log no longer covers): one ``snapshot`` event
  ``{"cursor": N, "alerts": [...]}`` with the open and acknowledged alerts, ``id: N``;
- then one ``alert`` event per committed change of a matching alert, in commit order, data = the alert after
  the change, ``id`` = its change number; a client that reconnects with ``Last-Event-ID: <id>`` gets every
  change after it, none twice;
- a ``: keep-alive`` comment when nothing was sent for ``api.sse_keepalive_s`` seconds. The key is checked
  again then: a revoked key ends the stream. So does the server stopping (:mod:`api.serving`).

No pooled connection is held while the stream waits: each read borrows one briefly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from api.alert_notifier import AlertNotifier
from api.deps import ALERT_ROLES, POOL_WAIT_S, AlertsUser, Connection, bearer_scheme, forbidden, unauthorized
from api.routers.alerts import ROLE_DOMAINS, AlertPublic
from api.time_buckets import BUCKETS, BucketCount, BucketName
from connectors.postgres.alert_feed import alert_counts, alert_snapshot, can_resume_after, read_changes
from connectors.postgres.apikeys import ApiKey, authenticate
from millstream.events.alerts import AlertDomain, AlertSeverity
from millstream.metrics import ALERT_STREAM_EVENTS, ALERT_STREAMS

__all__ = ["RETRY_MS", "AlertCountsPublic", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"])

#: The reconnection delay the stream asks clients for.
RETRY_MS = 2000
#: How often a stream looks for changes while the notifier is not listening.
POLL_S = 1.0
#: Changes read per query.
BATCH = 500


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


def _key_of(request: Request, token: str) -> ApiKey | None:
    with request.app.state.pool.connection(timeout=POOL_WAIT_S) as conn:
        conn.autocommit = True
        return authenticate(conn, token)


def _stream_caller(request: Request,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]) -> ApiKey:
    """Like ``AlertsUser``, but the connection it borrows goes back to the pool before the stream starts."""
    if credentials is None:
        raise unauthorized()
    key = _key_of(request, credentials.credentials)
    if key is None:
        raise unauthorized()
    request.state.api_key = key
    if key.role not in ALERT_ROLES:
        raise forbidden()
    return key


_stream_caller.roles = ALERT_ROLES  # type: ignore[attr-defined]


def _domains(caller: ApiKey, domain: list[AlertDomain] | None) -> list[str]:
    allowed = ROLE_DOMAINS[caller.role]
    if domain and not set(domain) <= set(allowed):
        raise forbidden()
    return list(domain or allowed)


def _event(kind: str, data: Any, event_id: int) -> str:
    return f"event: {kind}\nid: {event_id}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _public(alert: Any) -> dict[str, Any]:
    return AlertPublic.of(alert).model_dump(mode="json")


_STREAM_DOC = """Server-Sent Events. First `retry: 2000`; unless resuming, one `snapshot` event
`{"cursor": N, "alerts": [...]}` (open and acknowledged alerts) with `id: N`; then one `alert` event per committed
change of a matching alert, in commit order (`data`: the alert after the change, `id`: its change number);
`: keep-alive` comments while idle. Reconnect with `Last-Event-ID: <id>` to get every change after it."""
_STREAM_RESPONSE = {"description": _STREAM_DOC, "content": {"text/event-stream": {"schema": {"type": "string"}}}}


@router.get("/stream", response_class=EventStreamResponse, summary="Live alert changes (Server-Sent Events)",
            responses={200: _STREAM_RESPONSE})
async def stream_alerts(
    request: Request,
    caller: Annotated[ApiKey, Depends(_stream_caller)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    domain: Annotated[list[AlertDomain] | None, Query(description="maintenance, inventory, logistics")] = None,
    severity: Annotated[list[AlertSeverity] | None, Query(description="critical, major, minor, warning")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,18}$",
                                                description="Resume after this event id.")] = None,
) -> EventStreamResponse:
    domains = _domains(caller, domain)
    severities = list(severity) if severity else None
    token = credentials.credentials if credentials else ""
    keepalive_s = request.app.state.settings.api.sse_keepalive_s
    notifier: AlertNotifier = request.app.state.alert_notifier
    pool = request.app.state.pool

    def read(fn: Any, *args: Any, **kwargs: Any) -> Any:
        with pool.connection(timeout=POOL_WAIT_S) as conn:
            conn.autocommit = True
            return fn(conn, *args, **kwargs)

    async def events() -> AsyncIterator[str]:
        wake = notifier.subscribe()
        ALERT_STREAMS.inc()
        try:
            yield f"retry: {RETRY_MS}\n\n"
            cursor = int(last_event_id) if last_event_id is not None else None
            if cursor is None or not await run_in_threadpool(read, can_resume_after, cursor):
                snapshot = await run_in_threadpool(read, alert_snapshot, domains=domains, severities=severities)
                cursor = snapshot.cursor
                yield _event("snapshot", {"cursor": cursor, "alerts": [_public(a) for a in snapshot.alerts]}, cursor)
                ALERT_STREAM_EVENTS.labels("snapshot").inc()
            last_sent = checked = time.monotonic()
            while True:
                wake.clear()
                changes = await run_in_threadpool(read, read_changes, cursor, domains=domains,
                                                  severities=severities, limit=BATCH)
                for change in changes:
                    cursor = change.seq
                    yield _event("alert", _public(change.alert), change.seq)
                    ALERT_STREAM_EVENTS.labels("alert").inc()
                    last_sent = time.monotonic()
                if len(changes) == BATCH:
                    continue
                timeout = keepalive_s if notifier.connected else min(POLL_S, keepalive_s)
                timeout = max(0.0, min(timeout, last_sent + keepalive_s - time.monotonic()))
                try:
                    async with asyncio.timeout(timeout):
                        await wake.wait()
                except TimeoutError:
                    pass
                if notifier.closing:
                    return  # the server is stopping
                now = time.monotonic()
                if now - last_sent >= keepalive_s:
                    if now - checked >= keepalive_s:
                        checked = now
                        if await run_in_threadpool(_key_of, request, token) is None:
                            return  # revoked: the client's reconnection gets 401
                    yield ": keep-alive\n\n"
                    ALERT_STREAM_EVENTS.labels("keepalive").inc()
                    last_sent = now
        except Exception as exc:  # the database went away: end the stream, the client resumes with its last id
            logger.warning("alert stream for %s ended: %s: %s", caller.actor, type(exc).__name__, exc)
        finally:
            ALERT_STREAMS.dec()
            notifier.unsubscribe(wake)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventStreamResponse(events(), headers=headers)


class AlertBucketPublic(BaseModel):
    start: datetime
    counts: dict[AlertSeverity, int]


class AlertCountsPublic(BaseModel):
    """Alerts opened per time bucket and severity, oldest first, up to the newest alert (event time)."""

    bucket_seconds: int
    buckets: list[AlertBucketPublic]


@router.get("/counts", response_model=AlertCountsPublic, summary="Alerts opened over time, by severity")
def read_alert_counts(
    conn: Connection, caller: AlertsUser,
    domain: Annotated[list[AlertDomain] | None, Query(description="maintenance, inventory, logistics")] = None,
    bucket: BucketName = "hour", buckets: BucketCount = 24,
) -> AlertCountsPublic:
    width = BUCKETS[bucket]
    counts = alert_counts(conn, domains=_domains(caller, domain), bucket=width, buckets=buckets)
    return AlertCountsPublic(bucket_seconds=int(width.total_seconds()),
                             buckets=[AlertBucketPublic(start=start, counts=c) for start, c in counts])
