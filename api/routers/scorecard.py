"""``GET /scorecard``: the pipelines' decisions against the simulators' ground truth, in event time.

The figures of :mod:`millstream.scorecard` (each ``{"value": x | null, "n": samples}``; ``null`` without data)
computed over what the database holds (``ground_truth`` and the pipelines' tables) as of the run's clock.
Engineers, dispatchers and admins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.deps import AppSettings, Connection, require_roles
from connectors.postgres.apikeys import ApiKey
from connectors.postgres.scorecard import scorecard

__all__ = ["SCORECARD_ROLES", "router"]

SCORECARD_ROLES = ("engineer", "dispatcher", "admin")
ScorecardReader = Annotated[ApiKey, Depends(require_roles(*SCORECARD_ROLES))]

router = APIRouter(prefix="/scorecard", tags=["scorecard"])


class Scorecard(BaseModel):
    """The scorecard: per pipeline, figures as ``{"value", "n"}`` and counts (see millstream.scorecard)."""

    as_of: datetime
    facts: int
    maintenance: dict[str, Any]
    inventory: dict[str, Any]
    logistics: dict[str, Any]


@router.get("", response_model=Scorecard, summary="Decisions vs ground truth (maintenance, inventory, logistics)")
def get_scorecard(conn: Connection, settings: AppSettings, _: ScorecardReader) -> Any:
    return scorecard(conn, settings.inventory, logistics=settings.logistics)
