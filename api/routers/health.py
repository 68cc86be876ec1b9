"""Liveness and readiness probes and Prometheus metrics (no API key: probes and Prometheus scrapers have none)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from millstream.metrics import run_registry
from millstream.run_status import read_status

__all__ = ["router"]

logger = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 2.0


class HealthPublic(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=HealthPublic, summary="Liveness: the process answers")
def healthz() -> HealthPublic:
    return HealthPublic(status="ok")


@router.get(
    "/readyz", response_model=HealthPublic,
    summary="Readiness: the database answers (and, under `millstream up`, every service of the run is up)",
    responses={503: {"model": HealthPublic, "description": "The database cannot be reached, or a service of "
                                                           "the run is not running (named in checks)."}},
)
def readyz(request: Request) -> HealthPublic | JSONResponse:
    try:
        with request.app.state.pool.connection(timeout=READY_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready; the reason is logged, not returned
        logger.warning("readiness check failed: database: %s", type(exc).__name__)
        body = HealthPublic(status="unavailable", checks={"database": "unreachable"})
        return JSONResponse(body.model_dump(), status.HTTP_503_SERVICE_UNAVAILABLE)
    checks = {"database": "ok"}
    status_file = request.app.state.settings.api.run_status_file
    if status_file is not None:
        run = read_status(status_file)
        problems = {"run": "no status reported yet"} if run is None else run.problems()
        checks.update({s.name: s.state for s in run.services} if run is not None else {})
        if problems:
            checks.update(problems)
            body = HealthPublic(status="unavailable", checks=checks)
            return JSONResponse(body.model_dump(), status.HTTP_503_SERVICE_UNAVAILABLE)
    return HealthPublic(status="ready", checks=checks)


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Prometheus text format (no authentication, like the probes; no secrets): this process's metrics, or
    under ``millstream up`` (``PROMETHEUS_MULTIPROC_DIR`` set) the sum over every process of the run."""
    return Response(generate_latest(run_registry()), media_type=CONTENT_TYPE_LATEST)
