"""Migrations, time-series storage and the master-data loader against the real PostgreSQL."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from connectors.postgres.database import DatabaseError, connect, redacted_url
from connectors.postgres.masterdata import MASTERDATA_TABLES, load_scenario
from connectors.postgres.migrations import MigrationError, discover, migrate
from connectors.postgres.timescale import TIME_SERIES_TABLES, TimescaleUnavailable, ensure_time_series, prune_expired
from millstream.masterdata import parse_scenario, read_scenario
from millstream.settings import DatabaseSettings, Settings
from tests.helpers.paths import DEMO


def test_migrations_apply_once_then_change_nothing(empty_database: str) -> None:
    db = DatabaseSettings(url=empty_database)
    with connect(db) as conn:
        first = migrate(conn, db)
        tables_after_first = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        ).fetchall()
        second = migrate(conn, db)
        tables_after_second = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
        ).fetchall()
        recorded = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    all_migrations = [f"{m.version:04d}_{m.name}" for m in discover()]
    assert first.applied == all_migrations
    assert second.applied == []
    assert second.already_applied == all_migrations
    assert tables_after_first == tables_after_second
    assert [r["version"] for r in recorded] == [m.version for m in discover()]
    assert first.storage is not None and first.storage.timescale is False  # no timescaledb on this server
    names = {r["table_name"] for r in tables_after_first}
    assert set(TIME_SERIES_TABLES) | set(MASTERDATA_TABLES) <= names


def test_a_changed_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    db = DatabaseSettings(url=empty_database)
    (tmp_path / "0001_one.sql").write_text("CREATE TABLE one (x int);")
    with connect(db) as conn:
        migrate(conn, db, tmp_path)
        (tmp_path / "0001_one.sql").write_text("CREATE TABLE one (x bigint);")
        with pytest.raises(MigrationError, match="0001_one was changed after it was applied"):
            migrate(conn, db, tmp_path)


def test_a_failing_migration_rolls_back_whole(empty_database: str, tmp_path: Path) -> None:
    db = DatabaseSettings(url=empty_database)
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (x int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE bad (x nonsense_type);")
    with connect(db) as conn:
        with pytest.raises(MigrationError, match="migration 0002_bad failed"):
            migrate(conn, db, tmp_path)
        conn.rollback()
        exists = conn.execute("SELECT to_regclass('good') AS t").fetchone()
    assert exists == {"t": None}


def test_timescale_require_fails_clearly_without_the_extension(db: psycopg.Connection) -> None:
    with pytest.raises(TimescaleUnavailable, match="MILLSTREAM_DATABASE__TIMESCALE=require"):
        ensure_time_series(db, "require", timedelta(days=7))


class RecordingConnection:
    """Stands in for a TimescaleDB server (which cannot be installed here): records what would run."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    def execute(self, query: str, params: Any = None) -> RecordingConnection:
        self.statements.append((query, params))
        return self

    def fetchone(self) -> dict[str, int]:
        return {"ok": 1}  # pg_available_extensions lists timescaledb


def test_timescale_branch_makes_hypertables_with_retention() -> None:
    conn = RecordingConnection()
    mode = ensure_time_series(conn, "auto", timedelta(days=30))
    assert mode.timescale and set(mode.hypertables) == set(TIME_SERIES_TABLES)
    sql = [q for q, _ in conn.statements]
    assert "CREATE EXTENSION IF NOT EXISTS timescaledb" in sql
    hypertables = [p for q, p in conn.statements if "create_hypertable" in q]
    retention = [p for q, p in conn.statements if "add_retention_policy" in q]
    assert hypertables == list(TIME_SERIES_TABLES.items())
    assert retention == [(t, timedelta(days=30)) for t in TIME_SERIES_TABLES]


def test_timescale_off_keeps_plain_tables() -> None:
    conn = RecordingConnection()
    assert ensure_time_series(conn, "off", timedelta(days=30)).timescale is False
    assert conn.statements == []


def test_plain_retention_prunes_only_expired_rows(db: psycopg.Connection) -> None:
    db.execute("DELETE FROM gps_pings WHERE truck_id = 'PRUNE-T'")
    db.execute(
        """INSERT INTO gps_pings (time, event_id, truck_id, lat, lon) VALUES
           (now() - interval '40 days', 'old-ping', 'PRUNE-T', 1, 1),
           (now() - interval '1 day', 'new-ping', 'PRUNE-T', 1, 1)"""
    )
    deleted = prune_expired(db, timedelta(days=30))
    left = db.execute("SELECT event_id FROM gps_pings WHERE truck_id = 'PRUNE-T'").fetchall()
    db.rollback()
    assert deleted["gps_pings"] >= 1
    assert left == [{"event_id": "new-ping"}]


def test_demo_scenario_loads_and_reloads_idempotently(settings: Settings) -> None:
    scenario = read_scenario(DEMO)
    seen: list[str] = []
    with connect(settings.database) as conn:
        counts = load_scenario(conn, scenario, lambda table, rows: seen.append(table))
        again = load_scenario(conn, scenario)
        machines = conn.execute(  # the session database is shared: count the scenario's own rows
            "SELECT count(*) AS n FROM machines WHERE id = ANY(%s)", ([m.id for m in scenario.machines],)
        ).fetchone()
        nodes = conn.execute("SELECT opcua_nodes FROM machines WHERE id = 'CNC-01'").fetchone()
        bom = conn.execute("SELECT count(*) AS n FROM bom_lines WHERE product_id = 'FG-PUMP-P100'").fetchone()
    assert counts == again
    assert seen == list(MASTERDATA_TABLES)
    assert machines == {"n": 6}
    assert nodes["opcua_nodes"]["state"] == "ns=2;s=CNC-01.State"
    assert bom == {"n": 5}


def test_a_load_the_database_refuses_leaves_nothing_behind(empty_database: str) -> None:
    db = DatabaseSettings(url=empty_database)
    data = yaml.safe_load(DEMO.read_text())
    with connect(db) as conn:
        migrate(conn, db)
        # Valid for the file format, refused by the database: a plate the (added) constraint rejects.
        conn.execute("ALTER TABLE trucks ADD CONSTRAINT plate_short CHECK (length(plate) < 9)")
        conn.commit()
        bad = copy.deepcopy(data)
        bad["trucks"][4]["plate"] = "A-VERY-LONG-PLATE"
        with pytest.raises(psycopg.errors.CheckViolation):
            load_scenario(conn, parse_scenario(bad))
        conn.rollback()
        counts = {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in MASTERDATA_TABLES}
    assert set(counts.values()) == {0}, counts


def test_connection_errors_hide_the_password() -> None:
    db = DatabaseSettings(url="postgresql://millstream:hunter2@127.0.0.1:1/nope")
    with pytest.raises(DatabaseError) as exc:
        connect(db)
    assert "hunter2" not in str(exc.value)
    assert "127.0.0.1" in str(exc.value)
    assert "hunter2" not in redacted_url("postgresql://u:hunter2@h/d")
