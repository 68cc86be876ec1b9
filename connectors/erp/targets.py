"""Webhook target URLs: which the dispatcher may post to, and how they appear in logs.

**Server-side request forgery.** Whoever may subscribe an endpoint (the ``erp`` role, the CLI) makes the
dispatcher send requests and can read the start of each answer in the attempt log. So an endpoint whose
host is, or resolves to, a loopback, private, link-local, shared, reserved or multicast address is refused
unless ``MILLSTREAM_WEBHOOKS__ALLOW_PRIVATE_TARGETS`` is true (tests and demos on 127.0.0.1 set it). A host
name that does not resolve is refused too (its address cannot be checked). :func:`check_target` is called
by :mod:`connectors.erp.subscriptions` whenever an endpoint's URL is set, for the API and the CLI alike. The
check is made when the URL is stored: a name that later resolves elsewhere (DNS rebinding) is not caught.

**Logs.** :func:`redact_url` drops the user-info and replaces the query by ``?...``: either may carry a
token.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from connectors.erp.models import ErpError

__all__ = ["TargetError", "check_target", "redact_url"]

Resolver = Callable[..., list[tuple[Any, ...]]]


class TargetError(ErpError):
    """A webhook URL the dispatcher must not post to."""


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return not address.is_global or address.is_multicast


def check_target(url: str, *, allow_private: bool, resolve: Resolver = socket.getaddrinfo) -> None:
    """Raise :class:`TargetError` if ``url``'s host is (or resolves to) a non-public address, unless
    ``allow_private``."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        msg = "url: no host"
        raise TargetError(msg)
    shown = redact_url(url)
    hint = "private targets are refused unless MILLSTREAM_WEBHOOKS__ALLOW_PRIVATE_TARGETS=true"
    if host == "localhost" or host.endswith(".localhost"):
        msg = f"url: {shown} is a loopback host; {hint}"
        raise TargetError(msg)
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = resolve(host, parts.port or 443, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            msg = f"url: host {host!r} does not resolve ({exc}); {hint}"
            raise TargetError(msg) from None
        addresses = {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}
    bad = sorted(str(a) for a in addresses if _refused(a))
    if bad or not addresses:
        msg = f"url: {shown} points to a non-public address ({', '.join(bad) or 'none'}); {hint}"
        raise TargetError(msg)


def redact_url(url: str) -> str:
    """``url`` without user-info, and with ``?...`` for its query (for logs)."""
    try:
        parts = urlsplit(url)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
    except ValueError:
        return "<unparseable url>"
    return urlunsplit((parts.scheme, netloc, parts.path, "..." if parts.query else "", ""))
