"""The audit log, read-only, for administrators."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from api.deps import AuditReader, Connection
from connectors.postgres.audit import AuditEntry, list_audit

__all__ = ["AuditEntryPublic", "router"]

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEntryPublic(AuditEntry):
    pass  # the stored entry's fields (connectors.postgres.audit.AuditEntry), under the public schema name


Text = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]


@router.get("", response_model=list[AuditEntryPublic], summary="Who changed what, when (newest first)")
def read_audit_log(
    conn: Connection, _: AuditReader, resource: Text = None, resource_id: Text = None, actor: Text = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[AuditEntryPublic]:
    entries = list_audit(conn, resource=resource, resource_id=resource_id, actor=actor, since=since,
                         limit=limit, offset=offset)
    return [AuditEntryPublic.model_validate(e, from_attributes=True) for e in entries]
