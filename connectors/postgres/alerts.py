"""Alert storage: the alert sink's idempotent upsert and the API's reads and lifecycle changes.

Every function takes a psycopg connection opened with ``row_factory=dict_row`` (as
:func:`connectors.postgres.database.connect` and ``create_pool`` give) and writes inside
``conn.transaction()``: on an autocommit connection that commits at once; on a connection already in a
transaction (psycopg starts one implicitly at the first statement of a non-autocommit connection) it is a
savepoint, and the caller commits (``with pool.connection()`` does on exit).

Merging rules of :func:`upsert_alert` (the pipeline's view meets people's changes):
- an update older than the stored one (``occurred_at``) is ignored, so replays never roll an alert back;
- a pipeline update of an acknowledged alert keeps it acknowledged (who and when are kept);
- a pipeline ``cleared`` clears it; a pipeline ``open`` update of an alert a person cleared re-opens it
  (the condition is still there), forgetting the earlier acknowledgement.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from connectors.postgres.database import executemany
from millstream.events.alerts import Alert, AlertTransitionError
from millstream.events.base import WITHOUT_TIME_CHECK, utc_now

__all__ = [
    "AlertTransitionError",
    "acknowledge_alert",
    "alert_from_row",
    "clear_alert",
    "get_alert",
    "list_alerts",
    "upsert_alert",
    "upsert_alerts",
]

_COLUMNS = (
    "id", "subject_kind", "subject_id", "alert_type", "domain", "severity", "state", "title", "opened_at",
    "occurred_at", "acknowledged_at", "acknowledged_by", "cleared_at", "cleared_by", "trigger_count",
    "details", "evidence", "evidence_ids",
)

_UPSERT = f"""
INSERT INTO alerts ({", ".join(_COLUMNS)})
VALUES ({", ".join("%(" + c + ")s" for c in _COLUMNS)})
ON CONFLICT (id) DO UPDATE SET
    severity = EXCLUDED.severity,
    title = EXCLUDED.title,
    occurred_at = EXCLUDED.occurred_at,
    trigger_count = GREATEST(alerts.trigger_count, EXCLUDED.trigger_count),
    details = EXCLUDED.details,
    evidence = EXCLUDED.evidence,
    evidence_ids = EXCLUDED.evidence_ids,
    state = CASE
        WHEN EXCLUDED.state = 'cleared' THEN 'cleared'
        WHEN alerts.state = 'acknowledged' THEN 'acknowledged'
        ELSE EXCLUDED.state END,
    acknowledged_at = CASE
        WHEN alerts.state = 'cleared' AND EXCLUDED.state <> 'cleared' THEN EXCLUDED.acknowledged_at
        ELSE COALESCE(alerts.acknowledged_at, EXCLUDED.acknowledged_at) END,
    acknowledged_by = CASE
        WHEN alerts.state = 'cleared' AND EXCLUDED.state <> 'cleared' THEN EXCLUDED.acknowledged_by
        ELSE COALESCE(alerts.acknowledged_by, EXCLUDED.acknowledged_by) END,
    cleared_at = CASE WHEN EXCLUDED.state = 'cleared'
        THEN COALESCE(alerts.cleared_at, EXCLUDED.cleared_at) END,
    cleared_by = CASE WHEN EXCLUDED.state = 'cleared'
        THEN COALESCE(alerts.cleared_by, EXCLUDED.cleared_by) END,
    updated_at = now()
WHERE EXCLUDED.occurred_at >= alerts.occurred_at
"""  # noqa: S608 - column names come from the constant _COLUMNS


def _params(alert: Alert) -> dict[str, Any]:
    row = alert.model_dump(mode="python", include=set(_COLUMNS) - {"id"})
    row["id"] = alert.id
    row["details"] = Jsonb(alert.model_dump(mode="json", include={"details"})["details"])
    row["evidence"] = Jsonb(alert.model_dump(mode="json", include={"evidence"})["evidence"])
    row["evidence_ids"] = list(alert.evidence_ids)
    return row


def _alert(row: dict[str, Any]) -> Alert:
    data = {c: row[c] for c in _COLUMNS if c != "id"}
    data["event_id"] = row["id"]
    data["evidence_ids"] = tuple(row["evidence_ids"] or ())
    return Alert.model_validate(data, context=WITHOUT_TIME_CHECK)


def alert_from_row(row: dict[str, Any]) -> Alert:
    """An alert from a row of ``alerts`` (or its ``to_jsonb`` form, as the change log keeps it)."""
    return _alert(row)


def upsert_alert(conn: Any, alert: Alert) -> None:
    """Insert or merge one alert (see the module docstring for the merging rules)."""
    upsert_alerts(conn, [alert])


def upsert_alerts(conn: Any, alerts: Iterable[Alert]) -> None:
    """Insert or merge alerts in one transaction, in the order given."""
    executemany(conn, _UPSERT, [_params(a) for a in alerts])


def get_alert(conn: Any, alert_id: str) -> Alert | None:
    """The alert with ``alert_id``, or ``None``."""
    row = conn.execute("SELECT * FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    return None if row is None else _alert(row)


def list_alerts(
    conn: Any,
    *,
    domain: str | Iterable[str] | None = None,
    state: str | Iterable[str] | None = None,
    severity: str | Iterable[str] | None = None,
    subject_kind: str | Iterable[str] | None = None,
    subject_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Alert]:
    """Alerts matching every given filter (a value or a collection of values), newest episode first."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("domain", domain), ("state", state), ("severity", severity),
                          ("subject_kind", subject_kind)):
        if value is None:
            continue
        values = [value] if isinstance(value, str) else list(value)
        clauses.append(f"{column} = ANY(%s)")
        params.append(values)
    if subject_id is not None:
        clauses.append("subject_id = %s")
        params.append(subject_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params += [max(0, min(limit, 10_000)), max(0, offset)]
    rows = conn.execute(
        f"SELECT * FROM alerts {where} ORDER BY opened_at DESC, id LIMIT %s OFFSET %s",  # noqa: S608 - fixed columns
        params,
    ).fetchall()
    return [_alert(r) for r in rows]


def acknowledge_alert(conn: Any, alert_id: str, by: str, at: datetime | None = None) -> Alert | None:
    """Acknowledge an open alert; ``None`` if there is no such alert, :class:`AlertTransitionError` if it is
    not open."""
    return _transition(conn, alert_id, lambda a: a.acknowledged(by, at or utc_now()))


def clear_alert(conn: Any, alert_id: str, by: str, at: datetime | None = None) -> Alert | None:
    """Clear an open or acknowledged alert; ``None`` if there is no such alert, :class:`AlertTransitionError`
    if it is already cleared."""
    return _transition(conn, alert_id, lambda a: a.cleared(by, at or utc_now()))


def _transition(conn: Any, alert_id: str, change: Any) -> Alert | None:
    with conn.transaction():
        row = conn.execute("SELECT * FROM alerts WHERE id = %s FOR UPDATE", (alert_id,)).fetchone()
        if row is None:
            return None
        changed: Alert = change(_alert(row))
        conn.execute(
            """UPDATE alerts SET state = %s, acknowledged_at = %s, acknowledged_by = %s,
                   cleared_at = %s, cleared_by = %s, updated_at = now() WHERE id = %s""",
            (changed.state, changed.acknowledged_at, changed.acknowledged_by, changed.cleared_at,
             changed.cleared_by, alert_id),
        )
    return changed
