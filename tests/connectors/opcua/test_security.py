"""Security against the asyncua plant: Basic256Sha256 Sign/SignAndEncrypt with a trust directory, rejected
server certificates, username login, and refusal of security mode None unless allowed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from connectors.opcua.errors import OpcuaSecurityError
from connectors.opcua.security import (
    application_uri_of,
    generate_client_certificate,
    require_security_allowed,
)
from millstream.events import SensorReading
from millstream.events.connectivity import EndpointStatus
from tests.helpers.opcua import INSECURE, collect, endpoint, start_session
from tests.helpers.opcua_servers import AsyncuaPlant

TEMPERATURE = AsyncuaPlant.node_id("M1", "Temperature")
NODES = [{"node_id": TEMPERATURE, "machine_id": "M1", "tag": "temperature"}]
FAST = {"publishing_interval_ms": 50, "sampling_interval_ms": 0}


@pytest.fixture
def server_cert(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "server" / "cert.der", tmp_path / "server" / "key.pem"
    generate_client_certificate(cert, key, application_uri="urn:millstream:test:server", hostname="localhost")
    return cert, key


@pytest.fixture
def secure_plant(server_cert: tuple[Path, Path]) -> Iterator[AsyncuaPlant]:
    cert, key = server_cert
    server = AsyncuaPlant(security="secure", certificate=cert, private_key=key,
                          application_uri="urn:millstream:test:server", users={"operator": "s3cret"}).start()
    yield server
    server.close()


def _readings(items: list) -> list[SensorReading]:
    return [i for i in items if isinstance(i, SensorReading)]


def test_gen_cert_carries_the_application_uri(tmp_path: Path) -> None:
    result = generate_client_certificate(tmp_path / "c.der", tmp_path / "k.pem", application_uri="urn:x:y",
                                         hostname="plant-gw")
    assert application_uri_of(result.certificate) == "urn:x:y"
    cert = x509.load_der_x509_certificate((tmp_path / "c.der").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "plant-gw" in san.get_values_for_type(x509.DNSName)
    assert oct((tmp_path / "k.pem").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(OpcuaSecurityError, match="refusing to overwrite"):
        generate_client_certificate(tmp_path / "c.der", tmp_path / "k.pem")


@pytest.mark.opcua
@pytest.mark.parametrize("mode", ["Sign", "SignAndEncrypt"])
def test_secured_session_with_trusted_server_certificate_and_username(
    secure_plant: AsyncuaPlant, server_cert: tuple[Path, Path], pki: Path, mode: str
) -> None:
    shutil.copy(server_cert[0], pki / "trusted" / "plant.der")
    ep = endpoint(secure_plant.url, NODES, security={"policy": "Basic256Sha256", "mode": mode},
                  identity={"type": "username", "username": "operator", "password": "s3cret"}, subscription=FAST)
    session = start_session(ep, pki)
    try:
        items = collect(session, lambda items: len(_readings(items)) >= 1)
        assert _readings(items)[0].value == 20.0
    finally:
        session.stop()


@pytest.mark.opcua
def test_untrusted_server_certificate_is_rejected_with_a_clear_reason(
    secure_plant: AsyncuaPlant, pki: Path
) -> None:
    ep = endpoint(secure_plant.url, NODES, security={"policy": "Basic256Sha256", "mode": "SignAndEncrypt"},
                  identity={"type": "username", "username": "operator", "password": "s3cret"}, subscription=FAST)
    session = start_session(ep, pki)
    try:
        items = collect(session, lambda items: any(isinstance(i, EndpointStatus) for i in items))
        status = next(i for i in items if isinstance(i, EndpointStatus))
        assert status.state == "offline"
        assert "endpoint 'test'" in (status.reason or "")
        assert "BadCertificateUntrusted" in (status.reason or "") and "not trusted" in (status.reason or "")
        assert not _readings(items)
    finally:
        session.stop()


@pytest.mark.opcua
def test_wrong_password_is_refused_naming_the_endpoint(
    secure_plant: AsyncuaPlant, server_cert: tuple[Path, Path], pki: Path
) -> None:
    shutil.copy(server_cert[0], pki / "trusted" / "plant.der")
    ep = endpoint(secure_plant.url, NODES, security={"policy": "Basic256Sha256", "mode": "SignAndEncrypt"},
                  identity={"type": "username", "username": "operator", "password": "wrong"}, subscription=FAST)
    session = start_session(ep, pki)
    try:
        items = collect(session, lambda items: any(isinstance(i, EndpointStatus) for i in items))
        status = next(i for i in items if isinstance(i, EndpointStatus))
        assert status.state == "offline"
        assert "security or login rejected" in (status.reason or "") and "wrong" not in (status.reason or "")
    finally:
        session.stop()


def test_insecure_endpoint_refused_unless_allowed(plant: AsyncuaPlant, tmp_path: Path) -> None:
    refused = endpoint(plant.url, NODES, security={"policy": "None", "mode": "None"})
    with pytest.raises(OpcuaSecurityError, match=r"security mode None is refused.*allow_insecure.*--allow-insecure"):
        require_security_allowed(refused)
    require_security_allowed(refused, allow_insecure=True)  # the global setting allows it
    session = start_session(refused, tmp_path)
    try:
        items = collect(session, lambda items: len(items) >= 1)
        assert isinstance(items[0], EndpointStatus) and items[0].state == "offline"
        assert "refused" in (items[0].reason or "")
        assert not session.alive or session.connects == 0
    finally:
        session.stop()
    allowed = endpoint(plant.url, NODES, security=INSECURE, subscription=FAST)
    session = start_session(allowed, tmp_path)
    try:
        collect(session, lambda items: len(_readings(items)) >= 1)
    finally:
        session.stop()


def test_password_is_a_secret_in_config(pki: Path) -> None:
    ep = endpoint("opc.tcp://127.0.0.1:4840", NODES,
                  identity={"type": "username", "username": "operator", "password": "s3cret"})
    assert "s3cret" not in repr(ep) and "s3cret" not in ep.model_dump_json()


@pytest.mark.opcua
def test_x509_user_identity(server_cert: tuple[Path, Path], pki: Path, tmp_path: Path) -> None:
    user_cert, user_key = tmp_path / "user" / "cert.der", tmp_path / "user" / "key.pem"
    generate_client_certificate(user_cert, user_key, application_uri="urn:millstream:test:user", hostname="localhost")
    stranger_cert, stranger_key = tmp_path / "stranger" / "cert.der", tmp_path / "stranger" / "key.pem"
    generate_client_certificate(stranger_cert, stranger_key, application_uri="urn:x:stranger", hostname="localhost")
    cert, key = server_cert
    server = AsyncuaPlant(security="secure", certificate=cert, private_key=key,
                          application_uri="urn:millstream:test:server", x509_users=[user_cert]).start()
    shutil.copy(cert, pki / "trusted" / "plant.der")
    security = {"policy": "Basic256Sha256", "mode": "Sign"}
    accepted = start_session(endpoint(server.url, NODES, security=security, subscription=FAST, identity={
        "type": "certificate", "certificate": str(user_cert), "private_key": str(user_key)}), pki)
    refused = start_session(endpoint(server.url, NODES, security=security, subscription=FAST, name="stranger",
                                     identity={"type": "certificate", "certificate": str(stranger_cert),
                                               "private_key": str(stranger_key)}), pki)
    try:
        collect(accepted, lambda items: len(_readings(items)) >= 1)
        items = collect(refused, lambda items: any(isinstance(i, EndpointStatus) for i in items))
        assert items[0].state == "offline" and "security or login rejected" in (items[0].reason or "")
    finally:
        accepted.stop()
        refused.stop()
        server.close()
