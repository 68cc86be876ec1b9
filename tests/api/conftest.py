"""API fixtures: the app on its own migrated database (real PostgreSQL), a TestClient, one API key per role.

The API tests (schemathesis above all) create webhook endpoints, master data and audit entries at will, so
they get a database of their own rather than the session database other packages' tests share.

``client_without_database``: the app on a database nothing listens on (a real refused connection, no mock),
for the answers the API gives without reading storage (a refusal of a request without a usable key, public
documents); an answer that needs the database would be a 503 there, so those tests also show it needs none.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from connectors.kafka.admin import create_topics
from connectors.kafka.topics import ALERTS
from connectors.postgres.apikeys import ROLES, create_api_key
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.settings import Settings, load_settings
from tests.helpers.databases import create_database, drop_database
from tests.helpers.net import free_port


@pytest.fixture(scope="session")
def api_database(server_url: str) -> Iterator[str]:
    url = create_database(server_url, "millstream_api")
    settings = load_settings(database={"url": url})
    with connect(settings.database) as conn:
        migrate(conn, settings.database)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def api_settings(api_database: str, kafka_bootstrap: str) -> Settings:
    """The API on its database; alert changes go to topics of its own prefix; webhook endpoints on 127.0.0.1
    (the tests' receivers) are allowed."""
    prefix = f"api{uuid.uuid4().hex[:8]}."
    settings = load_settings(database={"url": api_database, "pool_max_size": 4},
                             kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": prefix},
                             webhooks={"allow_private_targets": True})
    create_topics(settings.kafka, [ALERTS])
    return settings


@pytest.fixture
def db(api_settings: Settings) -> Iterator[psycopg.Connection]:
    """A connection to the API tests' database (overrides the session database's ``db``)."""
    with connect(api_settings.database) as conn:
        yield conn


@pytest.fixture(scope="session")
def app(api_settings: Settings) -> FastAPI:
    return create_app(api_settings)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def tokens(api_settings: Settings) -> dict[str, str]:
    """A live API key per role: role -> bearer token."""
    with connect(api_settings.database, autocommit=True) as conn:
        return {role: create_api_key(conn, role, f"test {role}").token for role in ROLES}


@pytest.fixture(scope="session")
def client_without_database() -> Iterator[TestClient]:
    """A TestClient of the app whose PostgreSQL is unreachable (nothing listens on its port)."""
    settings = Settings(database={"url": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"})
    with TestClient(create_app(settings)) as test_client:
        yield test_client
