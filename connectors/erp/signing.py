"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A message is signed as ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`` with each
of the endpoint's secrets; during a secret rotation the ``webhook-signature`` header carries one signature
per secret, separated by spaces, and the receiver accepts the message if any of them verifies.

Secrets are ``whsec_`` followed by base64 of 24 to 64 random bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Sequence

from millstream.errors import MillstreamError

__all__ = [
    "SECRET_PREFIX",
    "SignatureError",
    "generate_secret",
    "secret_key",
    "sign",
    "signature_header",
    "webhook_headers",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_MIN_KEY, _MAX_KEY = 24, 64


class SignatureError(MillstreamError):
    """A webhook secret is malformed (the message never contains the secret itself)."""


def generate_secret() -> str:
    """A new random secret, ``whsec_`` + base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(32)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_...`` secret; :class:`SignatureError` when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        msg = f"webhook secret must start with {SECRET_PREFIX!r}"
        raise SignatureError(msg)
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        msg = "webhook secret is not valid base64 after the whsec_ prefix"
        raise SignatureError(msg) from None
    if not _MIN_KEY <= len(key) <= _MAX_KEY:
        msg = f"webhook secret must decode to {_MIN_KEY}..{_MAX_KEY} bytes, got {len(key)}"
        raise SignatureError(msg)
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` for message ``msg_id`` sent at ``timestamp`` (Unix s)."""
    to_sign = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(key, to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per key (newest secret first), space separated."""
    if not keys:
        msg = "at least one webhook secret is needed to sign"
        raise SignatureError(msg)
    return " ".join(sign(k, msg_id, timestamp, body) for k in keys)


def webhook_headers(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one message."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(keys, msg_id, timestamp, body),
    }
