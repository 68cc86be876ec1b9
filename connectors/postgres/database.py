"""Connections to PostgreSQL / TimescaleDB from :class:`DatabaseSettings` (the URL is a secret)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from millstream.settings import DatabaseSettings

__all__ = ["DatabaseError", "connect", "create_pool", "database_address", "executemany", "redacted_url"]


class DatabaseError(Exception):
    """The database refused or could not be reached; the message never carries the password."""


def database_address(url: str) -> str:
    """``host:port/dbname`` of ``url`` (no user, no password): how messages name the database."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def redacted_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (for logs and errors)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    if info.get("password"):
        info["password"] = "***"  # noqa: S105 - a mask, not a secret
    return psycopg.conninfo.make_conninfo("", **{k: v for k, v in info.items() if v is not None})


def connect(settings: DatabaseSettings, *, autocommit: bool = False) -> psycopg.Connection[dict[str, Any]]:
    """One connection (for CLI commands and migrations)."""
    url = settings.url.get_secret_value()
    try:
        return psycopg.connect(url, autocommit=autocommit, row_factory=dict_row, connect_timeout=10)
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"cannot connect to PostgreSQL at {database_address(url)}: {first_line}"
        raise DatabaseError(msg) from None


def executemany(conn: Any, query: str, rows: Sequence[Sequence[Any]] | Sequence[Mapping[str, Any]]) -> int:
    """Run ``query`` once per row, all in one transaction (nothing without rows); returns the rows affected."""
    if not rows:
        return 0
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(query, rows)
        return max(cur.rowcount, 0)


def create_pool(settings: DatabaseSettings, *, name: str = "millstream") -> ConnectionPool:
    """A connection pool for long-running services (API, sinks); open it with ``pool.open(wait=True)``."""
    return ConnectionPool(
        settings.url.get_secret_value(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs={"row_factory": dict_row},
        name=name,
        open=False,
    )
