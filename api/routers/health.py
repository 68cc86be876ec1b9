"""Liveness and readiness probes (no authentication)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

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
    "/readyz", response_model=HealthPublic, summary="Readiness: the database answers",
    responses={503: {"model": HealthPublic, "description": "The database cannot be reached."}},
)
def readyz(request: Request) -> HealthPublic | JSONResponse:
    try:
        with request.app.state.pool.connection(timeout=READY_TIMEOUT_S) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means not ready; the reason is logged, not returned
        logger.warning("readiness check failed: database: %s", type(exc).__name__)
        body = HealthPublic(status="unavailable", checks={"database": "unreachable"})
        return JSONResponse(body.model_dump(), status.HTTP_503_SERVICE_UNAVAILABLE)
    return HealthPublic(status="ready", checks={"database": "ok"})
