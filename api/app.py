"""The application factory: ``create_app(settings)`` wires the pool, routers, error handlers and OpenAPI.

The connection pool opens when the app starts (without waiting: the API comes up even if PostgreSQL is not
there yet, ``/readyz`` says so) and closes when it stops; so does the Kafka producer that publishes alert
changes (acknowledge, clear) to the ``alerts`` topic. Run it with ``millstream api serve``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.alert_notifier import AlertNotifier
from api.deps import access_denied, allowed_roles, key_checked_first
from api.errors import install_error_handlers
from api.limits import BodyLimit, validation_error_response
from api.routers import (
    alert_stream,
    alerts,
    audit,
    epcis,
    health,
    inventory,
    logistics,
    machines,
    masterdata,
    opcua,
    osmand,
    scorecard,
    session,
    webhooks,
)
from api.ui import mount_ui
from connectors.kafka.producer import EventProducer
from connectors.postgres.database import create_pool
from millstream import __version__
from millstream.settings import Settings

__all__ = ["API_PREFIX", "ROUTERS", "ErrorPublic", "api_routes", "create_app"]

API_PREFIX = "/api/v1"

#: Every router and the prefix it is mounted under.
ROUTERS: tuple[tuple[APIRouter, str], ...] = (
    (health.router, ""),
    (masterdata.router, API_PREFIX),
    (alert_stream.router, API_PREFIX),  # before alerts: its paths would match /alerts/{alert_id}
    (alerts.router, API_PREFIX),
    (webhooks.router, API_PREFIX),
    (audit.router, API_PREFIX),
    (inventory.router, API_PREFIX),
    (epcis.router, API_PREFIX),
    (session.router, API_PREFIX),
    (opcua.router, API_PREFIX),
    (logistics.router, API_PREFIX),
    (osmand.router, ""),
    (machines.router, API_PREFIX),
    (scorecard.router, API_PREFIX),
)

_DESCRIPTION = """\
Master data in (from the ERP), alerts out (to engineers and dispatchers), webhook subscriptions and their
deliveries. Every endpoint needs an API key (`Authorization: Bearer mst_...`) whose role is listed in the
operation's `x-roles`, except: `/healthz` and `/readyz` (probes); `/metrics` (Prometheus scrapes it without a
key; it holds only counters, gauges and histograms labelled by stage, error class, topic/partition, machine and
model id, never payloads, keys or records); and `/osmand` (GPS trackers, each authenticated by its own device
key, not an API key). Every change is written to the audit log.
"""

_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one."},
    403: {"description": "The API key's role may not use this endpoint."},
    503: {"description": "The database cannot be reached; retry after the `Retry-After` seconds."},
}

#: Answers whose body is ``{"detail": "<message>"}``.
_MESSAGE_CODES = ("400", "401", "403", "404", "409", "413", "503")


class ErrorPublic(BaseModel):
    """An error answer other than a 422: one message, nothing internal."""

    detail: str


def create_app(settings: Settings) -> FastAPI:
    """A new API application using ``settings`` (database, API host and port)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = create_pool(settings.database, name="millstream-api")
        pool.open(wait=False)
        app.state.pool = pool
        producer = EventProducer(settings.kafka)
        app.state.producer = producer
        app.state.alert_notifier = notifier = AlertNotifier(settings.database)
        try:
            yield
        finally:
            await notifier.stop()
            pool.close()
            await asyncio.to_thread(producer.flush, 10.0)

    app = FastAPI(
        title="Millstream API", version=__version__, description=_DESCRIPTION, lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    install_error_handlers(app)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _invalid_request)
    for router, prefix in ROUTERS:
        app.include_router(router, prefix=prefix, responses=_AUTH_RESPONSES if prefix else None,
                           dependencies=key_checked_first if _needs_a_key(router) else None)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    mount_ui(app)
    return app


def _needs_a_key(router: APIRouter) -> bool:
    """Whether every route of ``router`` admits only API keys of some roles (none is public)."""
    routes = [route for route in router.routes if isinstance(route, APIRoute)]
    return bool(routes) and all(allowed_roles(route.dependant) is not None for route in routes)


async def _invalid_request(request: Request, exc: Exception) -> Response:
    """Errors FastAPI raises before the dependencies run (a body that is not JSON or not UTF-8) answer 401 or
    403 when the request lacks a valid key for the route: authentication comes first."""
    rejected_early = isinstance(exc, RequestValidationError) or (
        isinstance(exc, StarletteHTTPException) and exc.status_code == 400)
    route = request.scope.get("route")
    roles = allowed_roles(route.dependant) if isinstance(route, APIRoute) else None
    if rejected_early and roles is not None and getattr(request.state, "api_key", None) is None:
        denied = await run_in_threadpool(access_denied, request, roles)
        if denied is not None:
            return await http_exception_handler(request, denied)
    if isinstance(exc, RequestValidationError):
        return validation_error_response(exc)
    assert isinstance(exc, StarletteHTTPException)
    return await http_exception_handler(request, exc)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus each operation's roles (``x-roles``); public operations lose the 401/403."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path, route in api_routes():
        roles = allowed_roles(route.dependant)
        for method in route.methods or ():
            operation = schema["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue
            if roles is None:
                for code in ("401", "403"):
                    operation.get("responses", {}).pop(code, None)
            else:
                operation["x-roles"] = list(roles)
            if "requestBody" in operation:
                operation["responses"].setdefault("400", {"description": "The body is not UTF-8 or not parseable."})
                operation["responses"].setdefault("413", {"description": "The body is larger than the limit."})
            for code in _MESSAGE_CODES:
                response = operation["responses"].get(code)
                if response is not None and "content" not in response:
                    response["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}}
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorPublic"] = ErrorPublic.model_json_schema()
    app.openapi_schema = schema
    return schema


def api_routes() -> Iterator[tuple[str, APIRoute]]:
    """``(full path, route)`` for every API route (the role matrix test and OpenAPI use it)."""
    for router, prefix in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                yield prefix + route.path_format, route
