"""The OPC-UA connector's exceptions: one base, each message names the endpoint (and node) concerned."""

from __future__ import annotations

from millstream.errors import MillstreamError

__all__ = ["OpcuaConfigError", "OpcuaConnectionError", "OpcuaError", "OpcuaSecurityError"]


class OpcuaError(MillstreamError):
    """Base of every error the OPC-UA connector raises on purpose."""


class OpcuaConfigError(OpcuaError):
    """The connector configuration (file or CLI options) is wrong; names the file/endpoint and field."""


class OpcuaSecurityError(OpcuaError):
    """Security is refused or misconfigured: insecure mode not allowed, missing or rejected certificate."""


class OpcuaConnectionError(OpcuaError):
    """An endpoint could not be reached or refused the session."""
