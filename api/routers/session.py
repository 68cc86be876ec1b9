"""Who the caller is: the web UI checks a key with ``GET /api/v1/me`` at log-in and shapes its pages by role."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import AnyRole
from api.routers.alerts import ROLE_DOMAINS
from connectors.postgres.apikeys import Role
from millstream.events.alerts import AlertDomain

__all__ = ["SessionPublic", "router"]

router = APIRouter(tags=["session"])


class SessionPublic(BaseModel):
    """The caller's key (never its secret) and what its role may see."""

    key_id: str
    name: str
    role: Role
    alert_domains: list[AlertDomain]


@router.get("/me", response_model=SessionPublic, summary="The caller's key and role")
def read_me(caller: AnyRole) -> SessionPublic:
    return SessionPublic(key_id=caller.key_id, name=caller.name, role=caller.role,
                         alert_domains=list(ROLE_DOMAINS.get(caller.role, ())))
