"""TimescaleDB where it exists, plain PostgreSQL where it does not — one registry of time-series tables.

With the ``timescaledb`` extension available (settings ``timescale=auto`` or ``require``), each table in
:data:`TIME_SERIES_TABLES` becomes a hypertable on its time column with a retention policy. Without it, the
tables stay plain (their ``(entity, time DESC)`` indexes come from the migrations) and :func:`prune_expired`
enforces retention. TimescaleDB cannot be installed on the project's build machines: the plain branch is
the one tested against a real server; the hypertable branch is tested against a recording connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from psycopg import sql

__all__ = ["TIME_SERIES_TABLES", "StorageMode", "TimescaleUnavailable", "ensure_time_series", "prune_expired",
           "timescale_available"]

logger = logging.getLogger(__name__)

#: table -> its time column. The one place that says which tables are time series.
TIME_SERIES_TABLES: dict[str, str] = {
    "sensor_readings": "time",
    "gps_pings": "time",
    "rfid_reads": "time",
    "truck_positions": "time",
}


class TimescaleUnavailable(Exception):
    """``timescale=require`` but the server has no ``timescaledb`` extension."""


@dataclass(frozen=True)
class StorageMode:
    timescale: bool
    hypertables: tuple[str, ...]


def timescale_available(conn: Any) -> bool:
    row = conn.execute("SELECT 1 AS ok FROM pg_available_extensions WHERE name = 'timescaledb'").fetchone()
    return row is not None


def ensure_time_series(conn: Any, mode: Literal["auto", "require", "off"], retention: timedelta) -> StorageMode:
    """Make the time-series tables hypertables with retention when TimescaleDB is there (idempotent)."""
    use = mode != "off" and timescale_available(conn)
    if mode == "require" and not use:
        msg = "MILLSTREAM_DATABASE__TIMESCALE=require but the server has no timescaledb extension"
        raise TimescaleUnavailable(msg)
    if not use:
        logger.info("timescaledb not in use (mode=%s): plain tables with time indexes", mode)
        return StorageMode(timescale=False, hypertables=())
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    for table, column in TIME_SERIES_TABLES.items():
        conn.execute(
            "SELECT create_hypertable(%s::regclass, by_range(%s), if_not_exists => TRUE, migrate_data => TRUE)",
            (table, column),
        )
        conn.execute(
            "SELECT add_retention_policy(%s::regclass, drop_after => %s, if_not_exists => TRUE)",
            (table, retention),
        )
    logger.info("timescaledb in use: hypertables %s, retention %s", ", ".join(TIME_SERIES_TABLES), retention)
    return StorageMode(timescale=True, hypertables=tuple(TIME_SERIES_TABLES))


def prune_expired(conn: Any, retention: timedelta) -> dict[str, int]:
    """Plain-PostgreSQL retention: delete rows older than ``retention``; returns rows deleted per table."""
    deleted = {}
    for table, column in TIME_SERIES_TABLES.items():
        query = sql.SQL("DELETE FROM {} WHERE {} < now() - %s").format(sql.Identifier(table), sql.Identifier(column))
        deleted[table] = conn.execute(query, (retention,)).rowcount
    return deleted
