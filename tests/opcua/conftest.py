"""Fixtures for the OPC-UA connector: real servers (asyncua in-process, node-opcua from npm), PKI, helpers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from connectors.kafka.clients import consumer_config
from connectors.opcua.config import ConnectorConfig, EndpointConfig, config_from_data
from connectors.opcua.security import generate_client_certificate
from connectors.opcua.session import Backoff, EndpointSession, SessionItem
from millstream.events import DEFAULT_TIME_POLICY
from millstream.settings import Settings
from tests.opcua.servers import AsyncuaPlant, NodeOpcuaServer

INSECURE = {"policy": "None", "mode": "None", "allow_insecure": True}


@pytest.fixture
def plant() -> Iterator[AsyncuaPlant]:
    """An insecure asyncua test plant (machine M1) on a free port."""
    server = AsyncuaPlant().start()
    yield server
    server.close()


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A PKI directory with a client certificate (own/) and an empty trust directory (trusted/)."""
    root = tmp_path / "pki"
    generate_client_certificate(root / "own" / "cert.der", root / "own" / "private_key.pem",
                                application_uri="urn:millstream:test:client", hostname="localhost")
    (root / "trusted").mkdir(parents=True)
    return root


@pytest.fixture(scope="session")
def node_opcua_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("node-opcua")


@pytest.fixture(scope="session")
def node_opcua(node_opcua_home: Path) -> Iterator[NodeOpcuaServer]:
    """node-opcua's sample server (installed by scripts/node-opcua.sh when missing), shared by the session."""
    server = NodeOpcuaServer(node_opcua_home).start()
    yield server
    server.stop()


def endpoint(url: str, nodes: list[dict[str, object]], **extra: object) -> EndpointConfig:
    data = {"name": extra.pop("name", "test"), "url": url, "security": extra.pop("security", INSECURE),
            "nodes": nodes, **extra}
    return config_from_data({"endpoints": [data]}).endpoints[0]


def connector(*endpoints: EndpointConfig) -> ConnectorConfig:
    return ConnectorConfig(endpoints=list(endpoints))


def start_session(ep: EndpointConfig, pki_dir: Path, **kwargs: object) -> EndpointSession:
    options: dict[str, object] = {"backoff": Backoff(0.1, 0.5), "time_policy": DEFAULT_TIME_POLICY}
    options.update(kwargs)
    session = EndpointSession(ep, pki_dir=pki_dir, **options)  # type: ignore[arg-type]
    session.start()
    return session


def collect(session: EndpointSession, until: Callable[[list[SessionItem]], bool], timeout_s: float = 20.0,
            into: list[SessionItem] | None = None) -> list[SessionItem]:
    """Drain ``session`` until ``until(items)`` holds; fails with what arrived when it does not in time."""
    items = into if into is not None else []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items.extend(session.drain())
        if until(items):
            return items
        time.sleep(0.02)
    pytest.fail(f"condition not met within {timeout_s} s; got {len(items)} items: {items[-10:]}")


def consume(settings: Settings, topic: str, expected: int, timeout_s: float = 30) -> list[bytes]:
    consumer = Consumer(consumer_config(settings.kafka, f"check-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    try:
        while len(values) < expected and datetime.now(UTC) < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
    finally:
        consumer.close()
    return values
