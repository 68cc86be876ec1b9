"""Machine health in PostgreSQL: the maintenance flow's idempotent score writer and the Plant API's reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from connectors.postgres.database import executemany
from millstream.events.maintenance import MaintenanceScore

__all__ = ["latest_scores", "open_maintenance_alerts", "recent_readings", "score_history", "store_scores"]

_COLUMNS = ("id", "machine_id", "at", "model_id", "health", "rul", "rul_low", "rul_high", "rul_unit", "horizon",
            "p_fail", "anomaly", "confidence", "valid_share", "missing_signals", "top_features", "running_hours",
            "samples")
# Column names are the constants above, never input.
_INSERT = (f"INSERT INTO maintenance_scores ({', '.join(_COLUMNS)}) "  # noqa: S608
           f"VALUES ({', '.join(['%s'] * len(_COLUMNS))}) ON CONFLICT (id) DO NOTHING")
_PUBLIC = ", ".join(c for c in _COLUMNS if c != "id")


def store_scores(conn: Any, scores: Sequence[MaintenanceScore]) -> int:
    """Insert scores (a replayed score adds nothing); returns how many were new."""
    rows = [(s.id, s.machine_id, s.at, s.model_id, s.health, s.rul, s.rul_low, s.rul_high, s.rul_unit, s.horizon,
             s.p_fail, s.anomaly, s.confidence, s.valid_share, list(s.missing_signals), Jsonb(list(s.top_features)),
             s.running_hours, s.samples) for s in scores]
    return executemany(conn, _INSERT, rows)


def latest_scores(conn: Any) -> dict[str, dict[str, Any]]:
    """The latest score of every scored machine, by machine id."""
    query = f"SELECT DISTINCT ON (machine_id) {_PUBLIC} FROM maintenance_scores ORDER BY machine_id, at DESC"  # noqa: S608
    with conn.cursor(row_factory=dict_row) as cur:
        return {r["machine_id"]: r for r in cur.execute(query).fetchall()}


def score_history(conn: Any, machine_id: str, since: datetime | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """A machine's scores, oldest first: the latest ``limit`` (after ``since`` when given)."""
    query = (f"SELECT * FROM (SELECT {_PUBLIC} FROM maintenance_scores WHERE machine_id = %s"  # noqa: S608
             " AND (%s::timestamptz IS NULL OR at > %s) ORDER BY at DESC LIMIT %s) s ORDER BY at")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, (machine_id, since, since, limit)).fetchall()


def recent_readings(conn: Any, machine_id: str, tags: Sequence[str],
                    per_tag: int = 60) -> dict[str, list[dict[str, Any]]]:
    """The latest ``per_tag`` readings of each of a machine's tags, oldest first (for sparklines and charts)."""
    query = ("SELECT t.tag, r.time, r.value_num, r.value_text, r.quality FROM unnest(%s::text[]) AS t(tag)"
             " CROSS JOIN LATERAL (SELECT time, value_num, value_text, quality FROM sensor_readings"
             " WHERE machine_id = %s AND tag = t.tag ORDER BY time DESC LIMIT %s) r")
    out: dict[str, list[dict[str, Any]]] = {tag: [] for tag in tags}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(query, (list(tags), machine_id, per_tag)).fetchall():
            out[row.pop("tag")].append(row)
    return {tag: sorted(rows, key=lambda r: r["time"]) for tag, rows in out.items()}


def open_maintenance_alerts(conn: Any) -> dict[str, dict[str, Any]]:
    """The active maintenance alert of each machine that has one (the most severe, then the newest)."""
    query = ("SELECT DISTINCT ON (subject_id) subject_id, id, severity, state, opened_at FROM alerts"
             " WHERE domain = 'maintenance' AND subject_kind = 'machine' AND state <> 'cleared'"
             " ORDER BY subject_id, array_position(ARRAY['critical','major','minor','warning'], severity),"
             " opened_at DESC")
    with conn.cursor(row_factory=dict_row) as cur:
        return {r.pop("subject_id"): r for r in cur.execute(query).fetchall()}
