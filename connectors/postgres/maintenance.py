"""Machine health scores in PostgreSQL: the flow's idempotent writer and the API's reads."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from millstream.events.maintenance import MaintenanceScore

__all__ = ["latest_scores", "score_history", "store_scores"]

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
    if not rows:
        return 0
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_INSERT, rows)
        return max(cur.rowcount, 0)


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
