"""OPC-UA endpoint status (table ``opcua_endpoint_status``, kept by ingest): for engineers and admins."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import Connection, PlantReader

__all__ = ["EndpointStatusPublic", "router"]

router = APIRouter(prefix="/opcua", tags=["opcua"])


class EndpointStatusPublic(BaseModel):
    """The latest connection status of one OPC-UA endpoint."""

    endpoint: str
    url: str | None
    state: str | None
    since: datetime | None
    offline_since: datetime | None
    attempts: int | None
    reason: str | None
    event_id: UUID | None


@router.get("/endpoints", response_model=list[EndpointStatusPublic], summary="OPC-UA endpoints and their status")
def read_endpoints(conn: Connection, _: PlantReader) -> list[EndpointStatusPublic]:
    rows = conn.execute(
        "SELECT endpoint, url, state, since, offline_since, attempts, reason, event_id"
        " FROM opcua_endpoint_status ORDER BY endpoint"
    ).fetchall()
    return [EndpointStatusPublic.model_validate(row) for row in rows]
