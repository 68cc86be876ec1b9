"""Fixtures for the output tests: a fresh migrated database per dispatcher test, the ERP receiver."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from connectors.erp.signing import generate_secret
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.settings import Settings, load_settings
from simulators.erp_receiver import ErpReceiver
from tests.conftest import create_database, drop_database


@pytest.fixture
def erp_settings(server_url: str, kafka_bootstrap: str) -> Iterator[Settings]:
    """Settings on a database of its own (the dispatcher delivers everything pending in its database)."""
    url = create_database(server_url, "millstream_erp")
    settings = load_settings(database={"url": url},
                             kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": f"t{uuid.uuid4().hex[:8]}."},
                             webhooks={"timeout_s": 2.0, "max_parallel": 8, "allow_private_targets": True})
    with connect(settings.database) as conn:
        migrate(conn, settings.database)
    yield settings
    drop_database(url)


@pytest.fixture
def erp_db(erp_settings: Settings) -> Iterator[psycopg.Connection]:
    """An autocommit connection: each data-access call commits, as in the API and CLI."""
    with connect(erp_settings.database, autocommit=True) as conn:
        yield conn


@pytest.fixture
def secret() -> str:
    return generate_secret()


@pytest.fixture
def erp(secret: str) -> Iterator[ErpReceiver]:
    with ErpReceiver([secret]) as receiver:
        yield receiver
