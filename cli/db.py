"""``millstream db``: schema migrations and retention."""

from __future__ import annotations

from datetime import timedelta

import typer

from cli.common import EXIT_UNAVAILABLE, console, fail, settings
from connectors.postgres.database import DatabaseError, connect
from connectors.postgres.migrations import MigrationError, migrate
from connectors.postgres.timescale import TimescaleUnavailable, prune_expired

app = typer.Typer(help="Database schema and storage.", no_args_is_help=True)


@app.command("migrate")
def migrate_command() -> None:
    """Apply pending SQL migrations (idempotent) and set up time-series storage."""
    db = settings().database
    try:
        with connect(db) as conn:
            report = migrate(conn, db)
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except (MigrationError, TimescaleUnavailable) as exc:
        fail(str(exc))
    for label in report.applied:
        console.print(f"applied  {label}")
    if not report.applied:
        console.print(f"up to date ({len(report.already_applied)} migrations already applied); nothing to do")
    storage = report.storage
    if storage is not None:
        kind = "TimescaleDB hypertables" if storage.timescale else "plain PostgreSQL tables (no timescaledb)"
        console.print(f"time-series storage: {kind}")


@app.command("prune")
def prune_command(
    days: int = typer.Option(None, help="Keep this many days (default: MILLSTREAM_DATABASE__RETENTION_DAYS)."),
) -> None:
    """Delete time-series rows older than the retention (plain PostgreSQL; TimescaleDB does it itself)."""
    db = settings().database
    keep = timedelta(days=days if days is not None else db.retention_days)
    try:
        with connect(db) as conn:
            deleted = prune_expired(conn, keep)
            conn.commit()
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    for table, rows in deleted.items():
        console.print(f"{table}: {rows} rows older than {keep.days} days deleted")
