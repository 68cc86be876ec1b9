"""Machines as the Plant page sees them: health, RUL band, state, latest readings; a machine's score history.

``GET /machines`` lists every machine of the master data with its latest maintenance score (health 0-100,
RUL with interval, failure risk, confidence, top contributing features), its RUL band, its state, its active
maintenance alert, its latest readings with a short history per signal (sparklines) and when its endpoint
last delivered. ``GET /machines/{id}/scores`` is a machine's score history (oldest first), with the key
signals' recent readings. Engineers and admins only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel

from api.deps import Connection, require_roles
from connectors.postgres import masterdata_reader
from connectors.postgres.apikeys import ApiKey
from connectors.postgres.maintenance import latest_scores, open_maintenance_alerts, recent_readings, score_history
from millstream.masterdata import Machine

__all__ = ["PLANT_ROLES", "router"]

PLANT_ROLES = ("engineer", "admin")
PlantReader = Annotated[ApiKey, Depends(require_roles(*PLANT_ROLES))]
MachineId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
SIGNALS = ("spindle_temperature", "vibration_rms", "motor_current", "spindle_speed")

router = APIRouter(prefix="/machines", tags=["machines"])


class ScorePublic(BaseModel):
    """One maintenance score of a machine."""

    at: datetime
    model_id: str
    health: float
    rul: float
    rul_low: float
    rul_high: float
    rul_unit: str
    horizon: float
    p_fail: float
    anomaly: float
    confidence: str
    valid_share: float
    missing_signals: list[str]
    top_features: list[dict[str, Any]]
    running_hours: float | None


class ReadingPoint(BaseModel):
    time: datetime
    value: float | None


class LatestReading(BaseModel):
    tag: str
    time: datetime
    value: float | str | None
    quality: str


class MachineHealth(BaseModel):
    """A machine with its health, RUL band, state and latest readings."""

    id: str
    name: str
    kind: str
    site_id: str
    location_id: str
    endpoint: str
    state: str | None
    rul_band: str
    score: ScorePublic | None
    alert: dict[str, Any] | None
    latest: list[LatestReading]
    sparklines: dict[str, list[ReadingPoint]]
    last_reading_at: datetime | None


class ScoreHistory(BaseModel):
    machine_id: str
    scores: list[ScorePublic]
    signals: dict[str, list[ReadingPoint]]


def rul_band(score: dict[str, Any] | None) -> str:
    """``imminent`` (within the model's horizon), ``soon`` (within twice it), ``ok``, or ``unknown``."""
    if score is None:
        return "unknown"
    if score["rul"] <= score["horizon"]:
        return "imminent"
    return "soon" if score["rul"] <= 2 * score["horizon"] else "ok"


def _points(rows: list[dict[str, Any]]) -> list[ReadingPoint]:
    return [ReadingPoint(time=r["time"], value=r["value_num"]) for r in rows if r["value_num"] is not None]


def _machine(conn: Any, m: Machine, score: dict[str, Any] | None, alert: dict[str, Any] | None) -> MachineHealth:
    tags = [*SIGNALS, "state"]
    history = recent_readings(conn, m.id, tags, per_tag=40)
    latest = [LatestReading(tag=t, time=last["time"], quality=last["quality"],
                            value=last["value_num"] if last["value_num"] is not None else last["value_text"])
              for t, rows in history.items() if rows for last in rows[-1:]]
    state = next((r.value for r in latest if r.tag == "state"), None)
    return MachineHealth(
        id=m.id, name=m.name, kind=m.kind, site_id=m.site_id, location_id=m.location_id, endpoint=m.opcua.endpoint,
        state=str(state) if state is not None else None, rul_band=rul_band(score),
        score=ScorePublic.model_validate(score) if score else None, alert=alert, latest=latest,
        sparklines={t: _points(history[t]) for t in SIGNALS},
        last_reading_at=max((r.time for r in latest), default=None),
    )


@router.get("", response_model=list[MachineHealth], summary="Machines with health, RUL band, state, readings")
def list_machines(conn: Connection, _: PlantReader) -> Any:
    machines = masterdata_reader.read_records(conn, Machine)
    scores = latest_scores(conn)
    alerts = open_maintenance_alerts(conn)
    return [_machine(conn, m, scores.get(m.id), alerts.get(m.id)) for m in machines]


@router.get("/{machine_id}/scores", response_model=ScoreHistory, summary="A machine's maintenance score history",
            responses={404: {"description": "No such machine."}})
def machine_scores(
    conn: Connection, _: PlantReader, machine_id: MachineId,
    since: Annotated[datetime | None, Query(description="Only scores after this time.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="The latest this many scores.")] = 500,
) -> Any:
    if not masterdata_reader.record_exists(conn, Machine, (machine_id,)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such machine")
    scores = score_history(conn, machine_id, since, limit)
    signals = recent_readings(conn, machine_id, SIGNALS, per_tag=300)
    return ScoreHistory(machine_id=machine_id, scores=[ScorePublic.model_validate(s) for s in scores],
                        signals={t: _points(rows) for t, rows in signals.items()})
