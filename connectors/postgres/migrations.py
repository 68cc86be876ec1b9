"""Ordered SQL migrations (``migrations/NNNN_name.sql``), applied once each and recorded.

``millstream db migrate`` runs :func:`migrate`: under an advisory lock, in one transaction, it applies the
migrations not yet in ``schema_migrations`` in version order, refuses to run if an applied file has changed
(checksum), then sets up time-series storage (:mod:`connectors.postgres.timescale`). Running it twice
applies nothing the second time.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from psycopg.rows import tuple_row

from connectors.postgres.timescale import StorageMode, ensure_time_series
from millstream.settings import DatabaseSettings

__all__ = ["MIGRATIONS_DIR", "Migration", "MigrationError", "MigrationReport", "discover", "migrate"]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x6D696C6C  # "mill"


class MigrationError(Exception):
    """A migration file is misnamed, changed after it was applied, or failed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass
class MigrationReport:
    applied: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)
    storage: StorageMode | None = None


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in ``directory``, in version order."""
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            msg = f"{path}: migration files must be named NNNN_lower_snake.sql"
            raise MigrationError(msg)
        migrations.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        msg = f"{directory}: two migrations share a version number"
        raise MigrationError(msg)
    return migrations


def migrate(conn: Any, settings: DatabaseSettings, directory: Path = MIGRATIONS_DIR) -> MigrationReport:
    """Apply pending migrations on ``conn`` (a psycopg connection, not in autocommit) and commit."""
    report = MigrationReport()
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        with conn.cursor(row_factory=tuple_row) as cur:
            applied = dict(cur.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        for migration in discover(directory):
            label = f"{migration.version:04d}_{migration.name}"
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    msg = f"migration {label} was changed after it was applied; add a new migration instead"
                    raise MigrationError(msg)
                report.already_applied.append(label)
                continue
            try:
                conn.execute(migration.sql)
            except Exception as exc:
                msg = f"migration {label} failed: {exc}"
                raise MigrationError(msg) from exc
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            report.applied.append(label)
        report.storage = ensure_time_series(conn, settings.timescale, timedelta(days=settings.retention_days))
    return report
