"""Device keys: how a GPS tracker speaking OsmAnd (the Traccar Client app) proves it is the device it says.

Each device id (the OsmAnd ``id`` the tracker sends) is registered for one truck with a random key, shown
once when created; only its SHA-256 is stored (as for API keys: a high-entropy random secret needs no slow
hash). A request is accepted when its device id is registered, not revoked, and the key it carries matches.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.postgres.apikeys import hash_secret

__all__ = ["DEVICE_ID", "Device", "DeviceError", "DeviceVerdict", "check_device", "create_device", "list_devices",
           "revoke_device"]

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
KEY_PREFIX = "dk_"
_COLUMNS = "device_id, truck_id, created_at, last_used_at, revoked_at"


class DeviceError(Exception):
    """A device cannot be registered or changed (bad id, unknown truck, already registered)."""


@dataclass(frozen=True)
class Device:
    device_id: str
    truck_id: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class DeviceVerdict:
    """``device`` when accepted, else ``status`` (404 unknown device, 401 bad key) and ``reason``."""

    device: Device | None
    status: int = 200
    reason: str = ""


def _device(row: dict[str, Any]) -> Device:
    return Device(**row)


def create_device(conn: Any, device_id: str, truck_id: str) -> tuple[Device, str]:
    """Register ``device_id`` for ``truck_id``; returns the device and its key (never stored)."""
    if not DEVICE_ID.match(device_id):
        msg = f"device id {device_id!r} must be 1-64 letters, digits or ._:- starting with a letter or digit"
        raise DeviceError(msg)
    if conn.execute("SELECT 1 FROM trucks WHERE id = %s", (truck_id,)).fetchone() is None:
        msg = f"unknown truck {truck_id!r}: load master data with that truck first"
        raise DeviceError(msg)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO device_keys (device_id, truck_id, secret_hash) VALUES (%s, %s, %s) "  # noqa: S608
        "ON CONFLICT (device_id) DO UPDATE SET truck_id = excluded.truck_id, secret_hash = excluded.secret_hash, "
        "created_at = now(), last_used_at = NULL, revoked_at = NULL WHERE device_keys.revoked_at IS NOT NULL "
        f"RETURNING {_COLUMNS}", (device_id, truck_id, hash_secret(key))).fetchone()
    if row is None:
        msg = f"device {device_id!r} is already registered (revoke it first to issue a new key)"
        raise DeviceError(msg)
    return _device(row), key


def check_device(conn: Any, device_id: str, key: str | None) -> DeviceVerdict:
    """Whether ``key`` opens ``device_id`` (and the truck it reports for)."""
    row = conn.execute(f"SELECT {_COLUMNS}, secret_hash FROM device_keys WHERE device_id = %s",  # noqa: S608
                       (device_id,)).fetchone()
    if row is None or row["revoked_at"] is not None:
        state = "revoked" if row is not None else "unknown"
        return DeviceVerdict(None, 404, f"{state} device id {device_id!r}: register it with `millstream device add`")
    stored = bytes(row.pop("secret_hash"))
    if not key or not hmac.compare_digest(stored, hash_secret(key)):
        return DeviceVerdict(None, 401, f"device key missing or wrong for device {device_id!r}")
    conn.execute("UPDATE device_keys SET last_used_at = now() WHERE device_id = %s "
                 "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')", (device_id,))
    return DeviceVerdict(_device(row))


def list_devices(conn: Any, include_revoked: bool = False) -> list[Device]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM device_keys WHERE %s OR revoked_at IS NULL "  # noqa: S608
                        "ORDER BY device_id", (include_revoked,)).fetchall()
    return [_device(r) for r in rows]


def revoke_device(conn: Any, device_id: str) -> bool:
    """Revoke a device key; ``False`` if there was no live one."""
    row = conn.execute("UPDATE device_keys SET revoked_at = now() WHERE device_id = %s AND revoked_at IS NULL "
                       "RETURNING device_id", (device_id,)).fetchone()
    return row is not None
