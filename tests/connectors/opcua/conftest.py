"""Fixtures for the OPC-UA connector: real servers (asyncua in-process, node-opcua from npm), PKI, helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.opcua.security import generate_client_certificate
from tests.helpers.opcua_servers import AsyncuaPlant, NodeOpcuaServer


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














