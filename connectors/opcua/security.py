"""OPC-UA security: client certificates, the trust directory for server certificates, insecure refusal.

* :func:`generate_client_certificate` makes a self-signed application instance certificate whose
  subjectAltName carries the application URI (OPC UA requires it to equal the session's ApplicationUri).
* :class:`ServerTrust` checks a server certificate against the trust directory: trusted when the very
  certificate (by SHA-256 fingerprint) or its issuing CA is in the directory. Anything else is rejected with
  ``BadCertificateUntrusted`` and the rejected certificate's fingerprint is logged so an operator can trust it.
* :func:`require_security_allowed` refuses security mode None unless the endpoint sets ``allow_insecure``.
* :func:`apply_security` configures an asyncua client for an endpoint.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asyncua import Client, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto import cert_gen, security_policies
from asyncua.crypto.truststore import TrustStore
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from connectors.opcua.config import ConnectionConfig, SecurityConfig
from connectors.opcua.errors import OpcuaSecurityError

__all__ = [
    "ClientCertificate",
    "ServerTrust",
    "application_uri_of",
    "apply_security",
    "check_credentials",
    "default_application_uri",
    "fetch_server_certificate",
    "fingerprint",
    "generate_client_certificate",
    "require_security_allowed",
    "resolve_paths",
    "trust_certificate",
]

logger = logging.getLogger(__name__)

OWN_CERTIFICATE = Path("own/cert.der")
OWN_PRIVATE_KEY = Path("own/private_key.pem")
TRUSTED_DIR = Path("trusted")
_CERT_SUFFIXES = {".der", ".pem", ".crt", ".cer"}


@dataclass(frozen=True)
class ClientCertificate:
    certificate: Path
    private_key: Path
    application_uri: str
    not_after: datetime


def default_application_uri(hostname: str | None = None) -> str:
    return f"urn:{hostname or socket.gethostname()}:millstream:client"


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint, colon-separated hex (how operators compare certificates)."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def generate_client_certificate(
    certificate: Path, private_key: Path, *, application_uri: str | None = None, hostname: str | None = None,
    days: int = 365, organization: str = "Millstream", overwrite: bool = False,
) -> ClientCertificate:
    """Write a new RSA-2048 key (PEM) and a self-signed certificate (DER, or PEM for a ``.pem`` path) with
    the application URI and host name as subjectAltNames and client+server authentication key usage."""
    host = hostname or socket.gethostname()
    uri = application_uri or default_application_uri(host)
    if not overwrite:
        existing = [str(p) for p in (certificate, private_key) if p.exists()]
        if existing:
            msg = f"refusing to overwrite {', '.join(existing)} (pass overwrite to replace)"
            raise OpcuaSecurityError(msg)
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key, uri, {"organizationName": organization},
        [x509.UniformResourceIdentifier(uri), x509.DNSName(host), x509.DNSName("localhost")],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH], days=days,
    )
    for path in (certificate, private_key):
        path.parent.mkdir(parents=True, exist_ok=True)
    private_key.write_bytes(cert_gen.dump_private_key_as_pem(key))
    private_key.chmod(0o600)
    encoding = Encoding.PEM if certificate.suffix.lower() == ".pem" else Encoding.DER
    certificate.write_bytes(cert.public_bytes(encoding))
    return ClientCertificate(certificate, private_key, uri, cert.not_valid_after_utc)


def load_certificate_file(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def application_uri_of(path: Path) -> str | None:
    """The URI subjectAltName of a certificate file (the application URI), if any."""
    cert = load_certificate_file(path)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def resolve_paths(security: SecurityConfig, pki_dir: Path) -> tuple[Path, Path, Path]:
    """Client certificate, private key and trust directory, defaulting to the PKI directory layout."""
    return (security.certificate or pki_dir / OWN_CERTIFICATE, security.private_key or pki_dir / OWN_PRIVATE_KEY,
            security.trust_dir or pki_dir / TRUSTED_DIR)


def require_security_allowed(endpoint: ConnectionConfig, *, allow_insecure: bool = False) -> None:
    """Refuse security mode None unless the endpoint (or the global setting) allows it."""
    if endpoint.security.insecure and not (endpoint.security.allow_insecure or allow_insecure):
        msg = (f"endpoint {endpoint.name!r} ({endpoint.url}): security mode None is refused — traffic would be "
               "unauthenticated and unencrypted; use Basic256Sha256 Sign/SignAndEncrypt, or set "
               "`allow_insecure: true` on the endpoint (CLI: --allow-insecure; for every endpoint: "
               "MILLSTREAM_OPCUA__ALLOW_INSECURE=true) if you accept that")
        raise OpcuaSecurityError(msg)


def check_credentials(endpoint: ConnectionConfig, pki_dir: Path, *, allow_insecure: bool = False) -> None:
    """Fail fast, before connecting: insecure refused unless allowed; a secured endpoint needs its client
    certificate, private key and trust directory on disk."""
    require_security_allowed(endpoint, allow_insecure=allow_insecure)
    if endpoint.security.insecure:
        return
    certificate, private_key, trust_dir = resolve_paths(endpoint.security, pki_dir)
    missing = [f"{what} {path}" for what, path, ok in (
        ("client certificate", certificate, certificate.is_file()), ("private key", private_key, private_key.is_file()),
        ("trust directory", trust_dir, trust_dir.is_dir())) if not ok]
    if missing:
        msg = (f"endpoint {endpoint.name!r} ({endpoint.url}): {', '.join(missing)} not found; create the client "
               "certificate with `millstream opcua gen-cert` and trust the server with `millstream opcua trust URL`"
               " (or connect without security: security mode None with allow_insecure / --allow-insecure)")
        raise OpcuaSecurityError(msg)


async def fetch_server_certificate(url: str, timeout_s: float = 5.0) -> x509.Certificate:
    """The certificate a server announces in GetEndpoints (the discovery service needs no security)."""
    client = Client(url, timeout=timeout_s)
    endpoints = await client.connect_and_get_server_endpoints()
    for description in endpoints:
        if description.ServerCertificate:
            der = description.ServerCertificate
            length = int.from_bytes(der[2:4], "big") + 4  # the first certificate of a possible chain
            return x509.load_der_x509_certificate(der[:length])
    msg = f"{url}: the server announces no certificate (it offers no secured endpoint)"
    raise OpcuaSecurityError(msg)


def trust_certificate(cert: x509.Certificate, trust_dir: Path) -> Path:
    """Store ``cert`` (DER) in the trust directory, named after its subject and fingerprint."""
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    label = str(names[0].value) if names else "server"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:60]
    path = trust_dir / f"{safe}-{cert.fingerprint(hashes.SHA256()).hex()[:16]}.der"
    trust_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(Encoding.DER))
    return path


class ServerTrust:
    """``certificate_validator`` for asyncua clients: the server certificate must be in ``trust_dir``
    (exact certificate) or be issued by a CA certificate there; and be within its validity period."""

    def __init__(self, trust_dir: Path, endpoint: str) -> None:
        self.trust_dir = trust_dir
        self.endpoint = endpoint
        self._fingerprints: set[bytes] = set()
        self._store: TrustStore | None = None
        self.rejected: str | None = None

    async def load(self) -> None:
        if not self.trust_dir.is_dir():
            msg = f"endpoint {self.endpoint!r}: trust directory {self.trust_dir} does not exist"
            raise OpcuaSecurityError(msg)
        files = [p for p in self.trust_dir.iterdir() if p.suffix.lower() in _CERT_SUFFIXES]
        for path in files:
            try:
                self._fingerprints.add(load_certificate_file(path).fingerprint(hashes.SHA256()))
            except ValueError:
                logger.warning("endpoint %s: %s in the trust directory is not a certificate", self.endpoint, path)
        self._store = TrustStore([self.trust_dir], [])
        try:
            await self._store.load()
        except Exception:  # a malformed file must not stop exact-certificate trust
            logger.debug("endpoint %s: CA trust store could not load %s", self.endpoint, self.trust_dir,
                         exc_info=True)
            self._store = None

    def is_trusted(self, cert: x509.Certificate) -> bool:
        if cert.fingerprint(hashes.SHA256()) in self._fingerprints:
            return True
        if self._store is None:
            return False
        try:
            return self._store.is_trusted(cert)
        except Exception:
            return False

    async def __call__(self, cert: x509.Certificate, app: ua.ApplicationDescription) -> None:
        now = datetime.now(UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            self.rejected = f"server certificate is outside its validity ({cert.not_valid_after_utc:%Y-%m-%d})"
            logger.error("endpoint %s: %s", self.endpoint, self.rejected)
            raise ServiceError(ua.StatusCodes.BadCertificateTimeInvalid)
        if not self.is_trusted(cert):
            self.rejected = (f"server certificate {fingerprint(cert)} ({app.ApplicationUri}) is not trusted: "
                             f"copy it into {self.trust_dir} to trust it")
            logger.error("endpoint %s: %s", self.endpoint, self.rejected)
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)
        self.rejected = None


_POLICIES: dict[str, type[security_policies.SecurityPolicy]] = {
    "Basic256Sha256": security_policies.SecurityPolicyBasic256Sha256,
}
_MODES = {"Sign": ua.MessageSecurityMode.Sign, "SignAndEncrypt": ua.MessageSecurityMode.SignAndEncrypt}


async def apply_security(client: Client, endpoint: ConnectionConfig, pki_dir: Path) -> ServerTrust | None:
    """Set the client's secure channel, application URI and server trust for ``endpoint``."""
    security = endpoint.security
    certificate, private_key, trust_dir = resolve_paths(security, pki_dir)
    uri = endpoint.application_uri
    if security.insecure:
        if uri:
            client.application_uri = uri
        return None
    for what, path in (("client certificate", certificate), ("private key", private_key)):
        if not path.is_file():
            msg = (f"endpoint {endpoint.name!r} ({endpoint.url}): {what} {path} not found; create one with "
                   "`millstream opcua gen-cert` or set security.certificate/private_key")
            raise OpcuaSecurityError(msg)
    try:
        client.application_uri = uri or application_uri_of(certificate) or default_application_uri()
    except ValueError as exc:
        msg = f"endpoint {endpoint.name!r}: {certificate} is not a certificate: {exc}"
        raise OpcuaSecurityError(msg) from None
    trust = ServerTrust(trust_dir, endpoint.name)
    await trust.load()
    client.certificate_validator = trust
    password = security.private_key_password.get_secret_value() if security.private_key_password else None
    await client.set_security(
        _POLICIES[security.policy], str(certificate), str(private_key), password, mode=_MODES[security.mode],
    )
    return trust


async def load_user_certificate(client: Client, certificate: Path, private_key: Path) -> None:
    """X.509 user identity (different from the application instance certificate)."""
    await client.load_client_certificate(str(certificate))
    await client.load_private_key(private_key)


