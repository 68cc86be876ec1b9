"""A throw-away database for one benchmark run, created on the configured server and dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

__all__ = ["fresh_database"]


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """The URL of a new, empty database on ``server`` (a PostgreSQL URL), dropped when the block ends."""
    name = f"millstream_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg.conninfo.make_conninfo(server, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
