"""API keys: issued once as a bearer token, stored only as a hash, each with one role.

A token looks like ``mst_<key_id>_<secret>``: ``key_id`` (12 hex characters) is public and is the primary key
of ``api_keys``; ``secret`` (43 URL-safe characters, 256 random bits) is shown once when the key is created
and only its SHA-256 is stored. Because the secret is high-entropy random, a fast hash is enough; checking
compares digests in constant time. Revoked keys stop authenticating at once.

An operator may also choose a key (``millstream up --admin-key KEY``): any other token of 1-200 printable
characters; its ``key_id`` is derived from the token's hash and the whole token is the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

__all__ = [
    "ROLES",
    "TOKEN_PREFIX",
    "ApiKey",
    "ApiKeyError",
    "IssuedApiKey",
    "Role",
    "authenticate",
    "create_api_key",
    "get_api_key",
    "hash_secret",
    "list_api_keys",
    "parse_token",
    "revoke_api_key",
]

Role = Literal["engineer", "dispatcher", "erp", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
TOKEN_PREFIX = "mst_"  # noqa: S105 - a public marker, not a secret
_TOKEN = re.compile(r"^mst_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_COLUMNS = "key_id, name, role, created_at, last_used_at, revoked_at"


class ApiKeyError(Exception):
    """An API key cannot be created or changed (unknown role, bad name)."""


@dataclass(frozen=True)
class ApiKey:
    """What is stored about a key (never the secret)."""

    key_id: str
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def actor(self) -> str:
        """How the audit log names this key."""
        return f"apikey:{self.key_id}"


@dataclass(frozen=True)
class IssuedApiKey:
    """A freshly created key: ``token`` is the only copy of the secret, show it once."""

    key: ApiKey
    token: str


def hash_secret(secret: str) -> bytes:
    """The stored form of a token's secret part."""
    return hashlib.sha256(secret.encode()).digest()


def parse_token(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed or operator-chosen token, else ``None``."""
    match = _TOKEN.match(token)
    if match:
        return match[1], match[2]
    if 0 < len(token) <= 200 and token.isprintable() and not token.startswith(TOKEN_PREFIX):
        return "k" + hashlib.sha256(token.encode()).hexdigest()[:11], token
    return None


def create_api_key(conn: Any, role: str, name: str, token: str | None = None) -> IssuedApiKey:
    """Create a key with ``role``; the returned token is never stored (only its hash). ``token``: the
    operator's chosen key instead of a generated one (re-creating it is a no-op returning the stored key)."""
    if role not in ROLES:
        msg = f"unknown role {role!r}: choose one of {', '.join(ROLES)}"
        raise ApiKeyError(msg)
    name = name.strip()
    if not name or len(name) > 200:
        msg = "the key name must be 1-200 characters"
        raise ApiKeyError(msg)
    if token is not None:
        parsed = parse_token(token)
        if parsed is None:
            msg = "a chosen key must be 1-200 printable characters and not start with mst_"
            raise ApiKeyError(msg)
        key_id, secret = parsed
        existing = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = %s",  # noqa: S608
                                (key_id,)).fetchone()
        if existing is not None:
            return IssuedApiKey(key=_key(existing), token=token)
    else:
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO api_keys (key_id, name, role, secret_hash) VALUES (%s, %s, %s, %s)"  # noqa: S608
        f" RETURNING {_COLUMNS}",
        (key_id, name, role, hash_secret(secret)),
    ).fetchone()
    return IssuedApiKey(key=_key(row), token=token or f"{TOKEN_PREFIX}{key_id}_{secret}")


def authenticate(conn: Any, token: str) -> ApiKey | None:
    """The live key that ``token`` belongs to, or ``None`` (malformed, unknown, wrong secret or revoked)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    key_id, secret = parsed
    row = conn.execute(
        f"SELECT {_COLUMNS}, secret_hash FROM api_keys WHERE key_id = %s AND revoked_at IS NULL",  # noqa: S608
        (key_id,),
    ).fetchone()
    if row is None or not hmac.compare_digest(bytes(_col(row, "secret_hash", 6)), hash_secret(secret)):
        return None
    # Record use at most once a minute so authentication does not write on every request.
    conn.execute(
        "UPDATE api_keys SET last_used_at = now() WHERE key_id = %s"
        " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        (key_id,),
    )
    return _key(row)


def get_api_key(conn: Any, key_id: str) -> ApiKey | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM api_keys WHERE key_id = %s", (key_id,)).fetchone()  # noqa: S608
    return _key(row) if row else None


def list_api_keys(conn: Any, *, include_revoked: bool = False) -> list[ApiKey]:
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    rows = conn.execute(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY created_at, key_id").fetchall()  # noqa: S608
    return [_key(r) for r in rows]


def revoke_api_key(conn: Any, key_id: str) -> bool:
    """Revoke a live key; ``False`` when there is no live key with that id."""
    row = conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL RETURNING key_id",
        (key_id,),
    ).fetchone()
    return row is not None


def _col(row: Any, name: str, index: int) -> Any:
    return row[name] if isinstance(row, dict) else row[index]


def _key(row: Any) -> ApiKey:
    names = ("key_id", "name", "role", "created_at", "last_used_at", "revoked_at")
    return ApiKey(*(_col(row, n, i) for i, n in enumerate(names)))
