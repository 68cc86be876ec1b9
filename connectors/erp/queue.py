"""The delivery queue in PostgreSQL, as the dispatcher sees it: fan-out, due deliveries, attempt results.

- :func:`fan_out` turns new outbox records into one delivery per matching enabled endpoint (in outbox
  order) and marks the records fanned out, in one statement (a publisher may set records aside: marked
  fanned out, without deliveries);
- :func:`due_deliveries` picks pending deliveries whose time has come, skipping any whose endpoint + record
  key has an earlier delivery still waiting for a retry (a later update waits for an earlier one) and the
  keys the caller has in flight;
- :func:`record_attempts` logs every attempt and moves each delivery on (delivered / retry / dead) in one
  statement per batch (arrays unnested), and disables endpoints that answered 410 (with an audit log entry
  by actor ``dispatcher``), in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.erp.models import WebhookEndpoint
from connectors.postgres.audit import record_change_async

__all__ = ["AttemptResult", "Publisher", "due_deliveries", "enabled_endpoints", "fan_out", "record_attempts"]

logger = logging.getLogger(__name__)

FAN_OUT_BATCH = 5000
#: The audit log's actor for what the dispatcher changes by itself.
DISPATCHER_ACTOR = "dispatcher"

#: Receives ``(event_id, record)`` pairs of a fan-out batch (e.g. to publish them to ``erp.events``) and
#: returns the event ids it set aside (records it could not take): they stay fanned out with no deliveries.
Publisher = Callable[[list[tuple[str, dict[str, Any]]]], Awaitable[Collection[str]]]

_FAN_OUT = """
WITH batch AS (
    SELECT seq, event_id, record_key, record_type FROM erp_outbox
    WHERE fanned_out_at IS NULL ORDER BY seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE erp_outbox o SET fanned_out_at = %(now)s FROM batch b WHERE o.seq = b.seq
    RETURNING o.seq, o.event_id, CASE WHEN %(with_records)s THEN o.record END AS record
), created AS (
    -- the same filter as connectors.erp.models.event_type_matches
    INSERT INTO webhook_deliveries (endpoint_id, event_id, outbox_seq, record_key, event_type, next_attempt_at)
    SELECT e.id, b.event_id, b.seq, b.record_key, b.record_type, %(now)s
    FROM batch b JOIN webhook_endpoints e ON e.enabled AND (
        cardinality(e.event_types) = 0 OR '*' = ANY (e.event_types) OR b.record_type = ANY (e.event_types)
        OR split_part(b.record_type, '.', 1) || '.*' = ANY (e.event_types))
    ORDER BY b.seq, e.id
    ON CONFLICT (endpoint_id, event_id) DO NOTHING
    RETURNING 1
)
SELECT m.event_id, m.record, (SELECT count(*) FROM created) AS deliveries FROM marked m ORDER BY m.seq
"""

_DROP_DELIVERIES = """
DELETE FROM webhook_deliveries WHERE event_id = ANY (%(event_ids)s::text[]) AND status = 'pending' AND attempts = 0
"""

_DUE = """
SELECT d.id, d.endpoint_id, d.event_id, d.record_key, d.attempts, d.outbox_seq, o.record
FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
JOIN erp_outbox o ON o.event_id = d.event_id
WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s
  AND NOT EXISTS (
      SELECT 1 FROM webhook_deliveries p
      WHERE p.endpoint_id = d.endpoint_id AND p.record_key = d.record_key AND p.status = 'pending'
        AND p.outbox_seq < d.outbox_seq AND p.next_attempt_at > %(now)s)
  AND NOT (d.endpoint_id || chr(31) || d.record_key = ANY (%(busy)s::text[]))
ORDER BY d.outbox_seq, d.endpoint_id
LIMIT %(limit)s
"""

#: One statement per flush, whatever its size: the attempts as arrays, unnested; each attempt is logged
#: only if its delivery still exists (its endpoint may have been deleted meanwhile).
_RECORD_ATTEMPTS = """
WITH r AS (
    SELECT * FROM unnest(%(id)s::bigint[], %(attempt)s::integer[], %(at)s::timestamptz[], %(code)s::integer[],
                         %(latency)s::double precision[], %(error)s::text[], %(excerpt)s::text[],
                         %(status)s::text[], %(next)s::timestamptz[], %(last_error)s::text[],
                         %(delivered)s::timestamptz[], %(dead)s::timestamptz[])
        AS r(id, attempt, at, code, latency, error, excerpt, status, next_at, last_error, delivered_at, dead_at)
), logged AS (
    INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, error,
                                  response_excerpt)
    SELECT r.id, r.attempt, r.at, r.code, r.latency, r.error, r.excerpt
    FROM r JOIN webhook_deliveries d ON d.id = r.id
    ORDER BY r.id
)
UPDATE webhook_deliveries d SET status = r.status, attempts = r.attempt, next_attempt_at = r.next_at,
    last_status_code = r.code, last_error = r.last_error, delivered_at = r.delivered_at, dead_at = r.dead_at,
    updated_at = now()
FROM r WHERE d.id = r.id
"""


_DELIVERY_STATUS = {"delivered": "delivered", "dead": "dead"}  # retry and gone stay pending


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP attempt came to, and what happens to its delivery next."""

    delivery_id: int
    endpoint_id: str
    event_id: str
    attempt: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None
    excerpt: str
    outcome: str  # delivered | retry | dead | gone
    next_attempt_at: datetime



async def fan_out(conn: Any, now: datetime, publish: Publisher | None = None) -> int:
    """Create deliveries for new outbox records; returns how many records were fanned out. With
    ``publish``, each batch of records is handed to it before the batch commits (if it raises, the batch
    is rolled back and fanned out again next time: at-least-once, with stable ids); the records it sets
    aside lose the deliveries just created for them and stay marked fanned out (never retried)."""
    total = 0
    while True:
        params = {"now": now, "limit": FAN_OUT_BATCH, "with_records": publish is not None}
        if publish is None and conn.autocommit:  # one statement is atomic: no BEGIN/COMMIT round trips
            rows = await (await conn.execute(_FAN_OUT, params)).fetchall()
        else:
            async with conn.transaction():
                rows = await (await conn.execute(_FAN_OUT, params)).fetchall()
                if rows and publish is not None:
                    set_aside = list(await publish([(r["event_id"], r["record"]) for r in rows]))
                    if set_aside:  # created by this very statement: nothing was attempted yet
                        await conn.execute(_DROP_DELIVERIES, {"event_ids": set_aside})
                        total -= len(set_aside)
        total += len(rows)
        if len(rows) < FAN_OUT_BATCH:
            return total


async def due_deliveries(conn: Any, now: datetime, limit: int, busy: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Due deliveries in outbox order with their record (``busy``: endpoint + record keys to skip)."""
    keys = [f"{endpoint}\x1f{key}" for endpoint, key in busy]
    cur = await conn.execute(_DUE, {"now": now, "limit": limit, "busy": keys})
    return list(await cur.fetchall())


async def enabled_endpoints(conn: Any) -> dict[str, WebhookEndpoint]:
    rows = await (await conn.execute("SELECT * FROM webhook_endpoints WHERE enabled")).fetchall()
    return {r["id"]: WebhookEndpoint.model_validate(r) for r in rows}


async def record_attempts(conn: Any, results: list[AttemptResult]) -> list[str]:
    """Log the attempts and apply their outcomes; returns the endpoints disabled (410 Gone)."""
    columns: dict[str, list[Any]] = {name: [] for name in (
        "id", "attempt", "at", "code", "latency", "error", "excerpt", "status", "next", "last_error", "delivered",
        "dead")}
    for r in results:
        status = _DELIVERY_STATUS.get(r.outcome, "pending")
        columns["id"].append(r.delivery_id)
        columns["attempt"].append(r.attempt)
        columns["at"].append(r.attempted_at)
        columns["code"].append(r.status_code)
        columns["latency"].append(r.latency_ms)
        columns["error"].append(r.error)
        columns["excerpt"].append(r.excerpt)
        columns["status"].append(status)
        columns["next"].append(r.next_attempt_at)
        columns["last_error"].append(r.error or (None if r.outcome == "delivered" else f"HTTP {r.status_code}"))
        columns["delivered"].append(r.attempted_at if status == "delivered" else None)
        columns["dead"].append(r.attempted_at if status == "dead" else None)
    gone_at: dict[str, datetime] = {}  # each endpoint's own (earliest) 410
    for r in results:
        if r.outcome == "gone":
            gone_at[r.endpoint_id] = min(r.attempted_at, gone_at.get(r.endpoint_id, r.attempted_at))
    gone = sorted(gone_at)
    if not gone and conn.autocommit:  # one statement is atomic: no BEGIN/COMMIT round trips
        await conn.execute(_RECORD_ATTEMPTS, columns)
        return gone
    async with conn.transaction(), conn.cursor() as cur:
        await cur.execute(_RECORD_ATTEMPTS, columns)
        for endpoint_id in gone:
            reason = f"410 Gone at {gone_at[endpoint_id].isoformat()}"
            await cur.execute(
                "UPDATE webhook_endpoints SET enabled = false, disabled_reason = %s, updated_at = now() "
                "WHERE id = %s AND enabled RETURNING id", (reason, endpoint_id))
            if await cur.fetchone() is not None:  # not if already disabled or deleted meanwhile
                await record_change_async(cur, actor=DISPATCHER_ACTOR, action="disable",
                                          resource="webhook_endpoints", resource_id=endpoint_id,
                                          details={"enabled": False, "disabled_reason": reason})
            logger.warning("webhook endpoint %s answered 410 Gone: disabled", endpoint_id)
    return gone
