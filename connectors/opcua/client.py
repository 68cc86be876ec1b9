"""Open an asyncua client session for a configured connection: security, identity, timeouts.

Used by the live session (:mod:`connectors.opcua.session`) and by one-shot tools (browse). Errors name the
endpoint and say what failed: refused security, a missing or rejected certificate, a refused login, or an
unreachable server.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from asyncua import Client, ua
from asyncua.ua.uaerrors import UaError

from connectors.opcua.config import ConnectionConfig
from connectors.opcua.errors import OpcuaConnectionError, OpcuaSecurityError
from connectors.opcua.security import ServerTrust, apply_security, load_user_certificate, require_security_allowed

__all__ = ["connect_client", "describe_error", "disconnect_quietly"]

logger = logging.getLogger(__name__)

_SECURITY_CODES = {
    ua.StatusCodes.BadCertificateUntrusted, ua.StatusCodes.BadCertificateInvalid,
    ua.StatusCodes.BadCertificateTimeInvalid, ua.StatusCodes.BadCertificateUriInvalid,
    ua.StatusCodes.BadSecurityChecksFailed, ua.StatusCodes.BadSecurityPolicyRejected,
    ua.StatusCodes.BadIdentityTokenRejected, ua.StatusCodes.BadIdentityTokenInvalid,
    ua.StatusCodes.BadUserAccessDenied, ua.StatusCodes.BadCertificateUseNotAllowed,
}


def describe_error(exc: BaseException) -> str:
    """A short human reason for a connection failure (status name for OPC UA errors)."""
    if isinstance(exc, ua.UaStatusCodeError):
        status = ua.StatusCode(exc.code)
        return f"{status.name}: {status.doc}" if status.doc else status.name
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


def _is_security_failure(exc: BaseException) -> bool:
    return isinstance(exc, ua.UaStatusCodeError) and exc.code in _SECURITY_CODES


async def connect_client(
    connection: ConnectionConfig, pki_dir: Path, *, allow_insecure: bool = False
) -> Client:
    """A connected, activated client. Raises :class:`OpcuaSecurityError` (refused/rejected security or
    identity) or :class:`OpcuaConnectionError` (unreachable, timed out, other service errors)."""
    require_security_allowed(connection, allow_insecure=allow_insecure)
    client = Client(connection.url, timeout=connection.request_timeout_s,
                    watchdog_intervall=connection.watchdog_interval_s, auto_reconnect=False)
    client.session_timeout = int(connection.session_timeout_s * 1000)
    client.name = client.description = f"Millstream OPC-UA connector ({connection.name})"
    trust: ServerTrust | None = None
    try:
        trust = await apply_security(client, connection, pki_dir)
        identity = connection.identity
        if identity.type == "username":
            client.set_user(identity.username or "")
            client.set_password(identity.password.get_secret_value() if identity.password else "")
        elif identity.type == "certificate" and identity.certificate and identity.private_key:
            await load_user_certificate(client, identity.certificate, identity.private_key)
        await asyncio.wait_for(client.connect(), timeout=connection.request_timeout_s * 3)
    except OpcuaSecurityError:
        _drop(client)
        raise
    except (TimeoutError, OSError, UaError, ValueError) as exc:
        _drop(client)
        reason = describe_error(exc)
        if trust is not None and trust.rejected:
            reason = f"{reason} — {trust.rejected}"
        where = f"endpoint {connection.name!r} ({connection.url})"
        if _is_security_failure(exc):
            msg = f"{where}: security or login rejected: {reason}"
            raise OpcuaSecurityError(msg) from exc
        msg = f"{where}: cannot connect: {reason}"
        raise OpcuaConnectionError(msg) from exc
    return client


def _drop(client: Client) -> None:
    """After a failed connect: asyncua has already unwound the session; close the socket if still open."""
    try:
        client.disconnect_socket()
    except Exception:  # nothing useful to do with an error while abandoning a failed connection
        logger.debug("closing socket raised", exc_info=True)


async def disconnect_quietly(client: Client, timeout_s: float = 2.0) -> None:
    """Close session and socket; a dead server must not hang or raise here."""
    try:
        await asyncio.wait_for(client.disconnect(), timeout=timeout_s)
    except Exception:  # the connection is being thrown away; nothing useful to do with the error
        logger.debug("disconnect from %s raised", client.server_url.geturl(), exc_info=True)
        try:
            client.disconnect_socket()
        except Exception:
            logger.debug("closing socket raised", exc_info=True)
