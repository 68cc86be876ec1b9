"""What the web UI reads about alerts: the change log behind the live feed, and alert counts over time.

The change log (table ``alert_changes``, migration 0009) gets one row per committed change of an alert, in
commit order (see the migration), so :func:`read_changes` after a cursor never misses one. A stream starts
from :func:`alert_snapshot` (the current alerts and the cursor they correspond to, read in one snapshot) or
resumes after a cursor it was given, when :func:`can_resume_after` says the log still holds what followed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.postgres.alerts import alert_from_row
from millstream.events.alerts import Alert

__all__ = ["AlertChange", "AlertSnapshot", "alert_counts", "alert_snapshot", "can_resume_after", "read_changes"]

#: Alert states a snapshot includes (cleared alerts leave the feed).
ACTIVE_STATES = ("open", "acknowledged")


@dataclass(frozen=True)
class AlertChange:
    """An alert as it was right after one committed change; ``seq`` orders changes (commit order)."""

    seq: int
    alert: Alert


@dataclass(frozen=True)
class AlertSnapshot:
    """The active alerts (newest first) and the cursor of the last change they include."""

    cursor: int
    alerts: list[Alert]


def _filters(domains: Sequence[str], severities: Sequence[str] | None) -> tuple[str, list[Any]]:
    clauses, params = ["domain = ANY(%s)"], [list(domains)]
    if severities:
        clauses.append("severity = ANY(%s)")
        params.append(list(severities))
    return " AND ".join(clauses), params


def read_changes(conn: Any, after: int, *, domains: Sequence[str], severities: Sequence[str] | None = None,
                 limit: int = 500) -> list[AlertChange]:
    """Changes with ``seq > after`` of alerts in ``domains`` (and ``severities``), oldest first."""
    where, params = _filters(domains, severities)
    rows = conn.execute(
        f"SELECT seq, alert FROM alert_changes WHERE seq > %s AND {where} ORDER BY seq LIMIT %s",  # noqa: S608
        [after, *params, limit],
    ).fetchall()
    return [AlertChange(row["seq"], alert_from_row(row["alert"])) for row in rows]


def alert_snapshot(conn: Any, *, domains: Sequence[str], severities: Sequence[str] | None = None,
                   limit: int = 500) -> AlertSnapshot:
    """The open and acknowledged alerts (newest first, at most ``limit``) and the cursor they correspond to,
    read in one repeatable-read transaction so that changes after the cursor are exactly those not in it."""
    where, params = _filters(domains, severities)
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor = conn.execute("SELECT coalesce(max(seq), 0) AS seq FROM alert_changes").fetchone()["seq"]
        rows = conn.execute(
            f"SELECT * FROM alerts WHERE {where} AND state = ANY(%s) ORDER BY opened_at DESC, id LIMIT %s",  # noqa: S608
            [*params, list(ACTIVE_STATES), limit],
        ).fetchall()
    return AlertSnapshot(cursor, [alert_from_row(r) for r in rows])


def can_resume_after(conn: Any, cursor: int) -> bool:
    """Whether every change after ``cursor`` is still in the log (not pruned, and the cursor is one this
    database gave out); otherwise a stream starts again from a snapshot."""
    row = conn.execute(
        "SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM alert_change_seq) AS issued,"
        " (SELECT min(seq) FROM alert_changes) AS oldest"
    ).fetchone()
    if cursor > row["issued"]:
        return False
    return row["oldest"] is None or cursor + 1 >= row["oldest"]


def alert_counts(conn: Any, *, domains: Sequence[str], bucket: timedelta, buckets: int
                 ) -> list[tuple[datetime, dict[str, int]]]:
    """Alerts opened per ``bucket`` and severity, over the ``buckets`` buckets up to the newest alert's
    (event time, so a simulated world running ahead of the wall clock is counted too); every bucket is
    listed, oldest first, empty ones with no counts. Empty list when there is no alert."""
    latest = conn.execute(
        "SELECT date_bin(%s, max(opened_at), TIMESTAMPTZ '2000-01-01') AS t FROM alerts WHERE domain = ANY(%s)",
        (bucket, list(domains)),
    ).fetchone()["t"]
    if latest is None:
        return []
    first = latest - bucket * (buckets - 1)
    rows = conn.execute(
        """SELECT date_bin(%s, opened_at, TIMESTAMPTZ '2000-01-01') AS start, severity, count(*) AS n
           FROM alerts WHERE domain = ANY(%s) AND opened_at >= %s AND opened_at < %s
           GROUP BY 1, 2""",
        (bucket, list(domains), first, latest + bucket),
    ).fetchall()
    counts: dict[datetime, dict[str, int]] = {first + bucket * i: {} for i in range(buckets)}
    for row in rows:
        counts[row["start"]][row["severity"]] = row["n"]
    return sorted(counts.items())
