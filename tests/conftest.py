"""Shared fixtures: the real Kafka broker and PostgreSQL started by `make test` (scripts/with-infra.sh).

Tests never skip when a service is missing: they fail and say how to run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.settings import Settings, load_settings

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests with `make test`, which starts Kafka and PostgreSQL")
    return value


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required_env("MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS")


@pytest.fixture(scope="session")
def server_url() -> str:
    return _required_env("MILLSTREAM_DATABASE__URL")


def _admin_url(url: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname="postgres")


def create_database(server_url: str, prefix: str = "millstream_test") -> str:
    """Create an empty database on the test server and return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_admin_url(server_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(server_url, dbname=name)


def drop_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def session_database(server_url: str) -> Iterator[str]:
    """A fresh, migrated database for this test session (dropped afterwards)."""
    url = create_database(server_url)
    settings = load_settings(database={"url": url})
    with connect(settings.database) as conn:
        migrate(conn, settings.database)
    yield url
    drop_database(url)


@pytest.fixture
def empty_database(server_url: str) -> Iterator[str]:
    """A fresh database with nothing in it, for tests of migrations themselves."""
    url = create_database(server_url, "millstream_empty")
    yield url
    drop_database(url)


@pytest.fixture
def settings(kafka_bootstrap: str, session_database: str) -> Settings:
    """Settings pointing at the real services, with a topic prefix unique to this test."""
    return load_settings(
        kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": f"t{uuid.uuid4().hex[:8]}."},
        database={"url": session_database},
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection to the session database."""
    with connect(settings.database) as conn:
        yield conn
