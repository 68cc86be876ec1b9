"""Shared fixtures: the real Kafka broker and PostgreSQL started by `make test` (scripts/with-infra.sh).

Tests never skip when a service is missing: they fail and say how to run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from connectors.erp.signing import generate_secret
from connectors.kafka.admin import create_topics
from connectors.kafka.topics import ALERTS, DLQ, TELEMETRY_READINGS, WAREHOUSE_RFID
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.settings import Settings, load_settings
from simulators.erp_receiver import ErpReceiver
from tests.helpers.databases import create_database, drop_database
from tests.helpers.inventory import fresh_settings


def _required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests with `make test`, which starts Kafka and PostgreSQL")
    return value


#: The tiers (docs/development.md): `make test-fast` deselects these markers. A test is marked by the fixtures
#: in its closure (so every fixture built on these carries the mark); a test that starts servers or processes
#: itself is marked in its module (``pytestmark``) or on the test.
_MARKER_FIXTURES = {
    "kafka": {"kafka_bootstrap"},
    "postgres": {"server_url"},
    "opcua": {"plant", "node_opcua"},
    "browser": {"browser", "page"},
    "slow": {"plant_model"},  # tests/streams/maintenance/conftest.py: trains a model in set-up
}


def _direct_parameters(item: pytest.Item) -> set[str]:
    """The names ``@pytest.mark.parametrize`` gives values directly (not via a fixture: ``indirect``)."""
    names: set[str] = set()
    for mark in item.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs["argnames"]
        argnames = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
        indirect = mark.kwargs.get("indirect", False)
        names.update(n for n in argnames if not (indirect is True or (indirect and n in indirect)))
    return names


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # a parameter that merely shares a fixture's name (``page``: a docs page) is not that fixture
        fixtures = set(getattr(item, "fixturenames", ())) - _direct_parameters(item)
        for marker, needs in _MARKER_FIXTURES.items():
            if fixtures & needs:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _required_env("MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS")


@pytest.fixture(scope="session")
def server_url() -> str:
    return _required_env("MILLSTREAM_DATABASE__URL")








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


# Inventory: a fresh migrated database and topics of its own per test (stock is global state).


@pytest.fixture
def inv_settings(server_url: str, kafka_bootstrap: str) -> Iterator[Settings]:
    """Settings with a fresh, migrated database of their own and a unique topic prefix."""
    settings, url = fresh_settings(server_url, kafka_bootstrap)
    create_topics(settings.kafka, [TELEMETRY_READINGS, WAREHOUSE_RFID, DLQ, ALERTS])
    yield settings
    drop_database(url)


@pytest.fixture
def inv_db(inv_settings: Settings) -> Iterator[psycopg.Connection]:
    with connect(inv_settings.database, autocommit=True) as conn:
        yield conn


# ERP delivery: a fresh database per test and the simulated ERP receiver.


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
