"""Webhook delivery attempts over time, for the Integrations page's chart: per time bucket, how many attempts
succeeded (a 2xx answer, as the dispatcher counts a delivery) and how many failed (any other answer, or no
answer: timeout, refused connection)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["AttemptCounts", "attempt_counts"]


@dataclass(frozen=True)
class AttemptCounts:
    start: datetime
    succeeded: int
    failed: int


def attempt_counts(conn: Any, *, bucket: timedelta, buckets: int, endpoint_id: str | None = None
                   ) -> list[AttemptCounts]:
    """Attempts per ``bucket`` over the ``buckets`` buckets up to the latest attempt (of ``endpoint_id``, or of
    every endpoint), oldest first, empty buckets included. Empty list when there is no attempt."""
    join = "JOIN webhook_deliveries d ON d.id = a.delivery_id AND d.endpoint_id = %(endpoint)s" if endpoint_id else ""
    params = {"bucket": bucket, "endpoint": endpoint_id}
    latest = conn.execute(
        f"SELECT date_bin(%(bucket)s, max(a.attempted_at), TIMESTAMPTZ '2000-01-01') AS t"  # noqa: S608
        f" FROM webhook_attempts a {join}",
        params,
    ).fetchone()["t"]
    if latest is None:
        return []
    first = latest - bucket * (buckets - 1)
    rows = conn.execute(
        f"""SELECT date_bin(%(bucket)s, a.attempted_at, TIMESTAMPTZ '2000-01-01') AS start,
                   count(*) FILTER (WHERE a.status_code BETWEEN 200 AND 299) AS succeeded,
                   count(*) FILTER (WHERE a.status_code IS NULL OR a.status_code NOT BETWEEN 200 AND 299) AS failed
            FROM webhook_attempts a {join}
            WHERE a.attempted_at >= %(first)s AND a.attempted_at < %(end)s
            GROUP BY 1""",  # noqa: S608 - the join is one of two constants
        {**params, "first": first, "end": latest + bucket},
    ).fetchall()
    found = {row["start"]: row for row in rows}
    counts = []
    for i in range(buckets):
        start = first + bucket * i
        row = found.get(start)
        counts.append(AttemptCounts(start, row["succeeded"] if row else 0, row["failed"] if row else 0))
    return counts
