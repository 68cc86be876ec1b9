"""The audit log: who changed what, when. Write the entry in the same transaction as the change.

Actors: ``apikey:<key_id>`` (the API), ``cli:<user>`` (:func:`cli_actor`), ``dispatcher`` (the webhook
dispatcher disabling an endpoint that answered 410 Gone).
"""

from __future__ import annotations

import getpass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from pydantic import AwareDatetime, BaseModel, ConfigDict

__all__ = ["AuditEntry", "cli_actor", "list_audit", "record_change", "record_change_async"]

_INSERT = ("INSERT INTO audit_log (actor, role, action, resource, resource_id, details)"
           " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id")


class AuditEntry(BaseModel):
    """One row of ``audit_log``; the API's ``AuditEntryPublic`` is this model under its public name."""

    model_config = ConfigDict(frozen=True)

    id: int
    at: AwareDatetime  # timestamptz: always aware
    actor: str
    role: str | None
    action: str
    resource: str
    resource_id: str | None
    details: dict[str, Any]


_COLUMNS = ", ".join(AuditEntry.model_fields)


def record_change(
    conn: Any, *, actor: str, action: str, resource: str, resource_id: str | None = None,
    role: str | None = None, details: dict[str, Any] | None = None,
) -> int:
    """Append one entry; returns its id. Call inside the transaction that makes the change."""
    row = conn.execute(_INSERT, (actor, role, action, resource, resource_id, Jsonb(details or {}))).fetchone()
    return int(row["id"] if isinstance(row, dict) else row[0])


async def record_change_async(
    conn: Any, *, actor: str, action: str, resource: str, resource_id: str | None = None,
    role: str | None = None, details: dict[str, Any] | None = None,
) -> int:
    """:func:`record_change` on an async connection (or cursor)."""
    cur = await conn.execute(_INSERT, (actor, role, action, resource, resource_id, Jsonb(details or {})))
    row = await cur.fetchone()
    return int(row["id"] if isinstance(row, dict) else row[0])


def cli_actor() -> str:
    """``cli:<user>``: who changes data from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def list_audit(
    conn: Any, *, resource: str | None = None, resource_id: str | None = None, actor: str | None = None,
    since: datetime | None = None, limit: int = 100, offset: int = 0,
) -> list[AuditEntry]:
    """Entries newest first, filtered by any of ``resource``, ``resource_id``, ``actor`` and ``since``."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM audit_log"  # noqa: S608 - constant column list, values parameterised
        " WHERE (%(resource)s::text IS NULL OR resource = %(resource)s)"
        " AND (%(resource_id)s::text IS NULL OR resource_id = %(resource_id)s)"
        " AND (%(actor)s::text IS NULL OR actor = %(actor)s)"
        " AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
        " ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s",
        {"resource": resource, "resource_id": resource_id, "actor": actor, "since": since,
         "limit": limit, "offset": offset},
    ).fetchall()
    return [AuditEntry.model_validate(r if isinstance(r, dict) else dict(zip(AuditEntry.model_fields, r, strict=True)))
            for r in rows]
