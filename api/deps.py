"""Request dependencies as ``Annotated`` aliases: a database connection from the pool, the caller's API key,
and role checks.

Every endpoint except the health probes takes a role alias (``MasterdataWriter``, ``AlertsUser`` ...). A
missing, malformed, unknown or revoked key gives the same 401; a valid key with the wrong role gives 403.
Neither says more than that. A request without a bearer token, or with one no key can have (``parse_token``),
is refused from its header alone, before a pooled connection is taken (:data:`key_checked_first`): it neither
waits for nor holds one of the pool's few connections, and gets its 401 while the database is down.
:func:`allowed_roles` reads a route's roles back (for OpenAPI and the role matrix test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import ConnectionPool

from connectors.kafka.producer import EventProducer
from connectors.postgres.apikeys import ROLES, ApiKey, Role, authenticate, parse_token
from millstream.settings import Settings

__all__ = [
    "ALERT_ROLES",
    "INVENTORY_ROLES",
    "PLANT_ROLES",
    "WEBHOOK_ROLES",
    "AlertsUser",
    "AnyRole",
    "ApiKeyDep",
    "AppProducer",
    "AppSettings",
    "AuditReader",
    "Connection",
    "EpcisReader",
    "InventoryReader",
    "MasterdataReader",
    "MasterdataWriter",
    "PlantReader",
    "WebhookManager",
    "access_denied",
    "allowed_roles",
    "bearer_scheme",
    "bearer_token",
    "forbidden",
    "key_checked_first",
    "require_roles",
    "unauthorized",
]

#: How long a request waits for a pooled connection before the API answers 503.
POOL_WAIT_S = 5.0

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="ApiKey",
    description="An API key from `millstream apikey create --role ROLE`, sent as `Authorization: Bearer mst_...`.",
)

def unauthorized() -> HTTPException:
    """The one 401 answer, whatever was wrong with the key."""
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})


def forbidden() -> HTTPException:
    """The one 403 answer."""
    return HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")


def _connection(request: Request) -> Iterator[psycopg.Connection]:
    pool: ConnectionPool = request.app.state.pool
    with pool.connection(timeout=POOL_WAIT_S) as conn:
        # Autocommit: each handler makes its changes in an explicit ``conn.transaction()``, committed before
        # the response is sent; plain reads need no transaction.
        conn.autocommit = True
        yield conn


Connection = Annotated[psycopg.Connection, Depends(_connection)]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


#: The settings the app was created with.
AppSettings = Annotated[Settings, Depends(_settings)]


def _producer(request: Request) -> EventProducer:
    return request.app.state.producer  # type: ignore[no-any-return]


#: The app's Kafka producer (opened and flushed with the app).
AppProducer = Annotated[EventProducer, Depends(_producer)]


def bearer_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]) -> str:
    """The request's bearer token; the 401 when there is none or it cannot be any key's token (decided from the
    header alone: no database access)."""
    if credentials is None or parse_token(credentials.credentials) is None:
        raise unauthorized()
    return credentials.credentials


#: For a router whose every route needs an API key: its routes' first dependency (``include_router(...,
#: dependencies=key_checked_first)``). The handlers declare ``conn: Connection`` before their role alias, and
#: FastAPI resolves dependencies in that order; this runs before both, so a request without a usable token
#: is refused before any connection is taken. Cached per request: the role alias's own check reuses it.
key_checked_first = [Depends(bearer_token)]


def _api_key(request: Request, token: Annotated[str, Depends(bearer_token)], conn: Connection) -> ApiKey:
    key = authenticate(conn, token)
    if key is None:
        raise unauthorized()
    request.state.api_key = key
    return key


ApiKeyDep = Annotated[ApiKey, Depends(_api_key)]


def require_roles(*roles: Role) -> Callable[[ApiKey], ApiKey]:
    """A dependency admitting callers whose key has one of ``roles`` (403 otherwise)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        msg = f"unknown roles {sorted(unknown)}"
        raise ValueError(msg)

    def check_role(key: ApiKeyDep) -> ApiKey:
        if key.role not in roles:
            raise forbidden()
        return key

    check_role.roles = tuple(roles)  # type: ignore[attr-defined]
    return check_role


def access_denied(request: Request, roles: tuple[str, ...]) -> HTTPException | None:
    """The 401/403 a request to a route admitting ``roles`` deserves, or ``None`` if its key is good.

    For requests FastAPI rejected before the dependencies ran (a body that is not JSON), so that without a
    valid key such a request still gets 401, not a 422 about its body.
    """
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or parse_token(token.strip()) is None:
        return unauthorized()
    with request.app.state.pool.connection(timeout=POOL_WAIT_S) as conn:
        conn.autocommit = True
        key = authenticate(conn, token.strip())
    if key is None:
        return unauthorized()
    return None if key.role in roles else forbidden()


def allowed_roles(dependant: Dependant) -> tuple[str, ...] | None:
    """The roles a route admits (``None`` for a public route), found in its dependency tree."""
    for dep in dependant.dependencies:
        roles = getattr(dep.call, "roles", None)
        if roles is not None:
            return tuple(roles)
        found = allowed_roles(dep)
        if found is not None:
            return found
    return None


def _alias(*roles: Role) -> Any:
    return Annotated[ApiKey, Depends(require_roles(*roles))]


ALERT_ROLES: tuple[Role, ...] = ("engineer", "dispatcher", "admin")
WEBHOOK_ROLES: tuple[Role, ...] = ("erp", "admin")

MasterdataReader = _alias(*ROLES)
MasterdataWriter = _alias("erp", "admin")
AlertsUser = _alias(*ALERT_ROLES)
WebhookManager = _alias(*WEBHOOK_ROLES)
AuditReader = _alias("admin")
INVENTORY_ROLES: tuple[Role, ...] = ("engineer", "erp", "admin")
InventoryReader = _alias(*INVENTORY_ROLES)
EpcisReader = _alias(*ROLES)
PLANT_ROLES: tuple[Role, ...] = ("engineer", "admin")
#: Any valid key (``GET /me``).
AnyRole = _alias(*ROLES)
#: Plant status (OPC-UA endpoints): engineers and admins.
PlantReader = _alias(*PLANT_ROLES)
