"""Shipments and trucks as the logistics flow tracks them, and the device keys GPS trackers use (fences and
routes for a map are master data: ``/masterdata/geofences``, ``/masterdata/shipments``).

Dispatchers, the ERP and admins read shipments (status, last position, ETA band, promised window,
lateness; one shipment's milestone timeline), a truck's track, its trips and its stops (JSON or CSV with
``format=csv``). Admins register and revoke tracker devices; a new device's key is shown once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AppSettings, Connection, require_roles
from api.errors import field_error
from connectors.postgres.apikeys import ApiKey
from connectors.postgres.audit import record_change
from connectors.postgres.devices import Device, DeviceError, create_device, list_devices, revoke_device
from connectors.postgres.logistics import list_shipments, shipment_detail, truck_track
from millstream.logistics.stops import find_stops, track_length_m
from millstream.logistics.truck import ShipmentStatus

__all__ = ["LOGISTICS_ROLES", "router"]

router = APIRouter(tags=["logistics"])

LOGISTICS_ROLES = ("dispatcher", "erp", "admin")
LogisticsReader = Annotated[ApiKey, Depends(require_roles(*LOGISTICS_ROLES))]
DeviceAdmin = Annotated[ApiKey, Depends(require_roles("admin"))]

EntityId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
DeviceId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {"schema": {"type": "string"}}},
          "description": "JSON, or CSV with format=csv"},
    404: {"description": "No such truck in master data."},
}


class Position(BaseModel):
    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None


class ShipmentPublic(BaseModel):
    """A shipment: where its truck is, when it will arrive (with an 80 % band), against its promised window."""

    shipment_id: str
    truck_id: str
    origin_site_id: str
    destination_site_id: str
    status: str
    status_at: datetime | None
    promised_from: datetime
    promised_to: datetime
    eta: datetime | None
    eta_low: datetime | None
    eta_high: datetime | None
    remaining_km: float | None
    lateness_min: float | None = Field(None, description="ETA (or arrival) minus promised_to; > 0 is late.")
    last_position: Position | None


class Milestone(BaseModel):
    milestone: str
    at: datetime
    lat: float | None
    lon: float | None


class EtaPoint(BaseModel):
    computed_at: datetime
    eta: datetime
    eta_low: datetime
    eta_high: datetime
    naive_eta: datetime | None
    remaining_km: float


class ShipmentDetail(ShipmentPublic):
    milestones: list[Milestone]
    etas: list[EtaPoint]


class TrackPoint(BaseModel):
    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None
    heading_deg: float | None
    quality: str
    shipment_id: str | None


class Trip(BaseModel):
    shipment_id: str
    departed: datetime | None
    arrived: datetime | None
    delivered: datetime | None
    duration_min: float | None
    distance_km: float | None


class StopPublic(BaseModel):
    started_at: datetime
    ended_at: datetime
    duration_min: float
    lat: float
    lon: float


class MapConfig(BaseModel):
    """How the Dispatch page draws its map: a tile URL template (``{z}/{x}/{y}``), or none (no tiles)."""

    tile_url: str | None
    attribution: str


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    truck_id: str = Field(min_length=1, max_length=64)


class DevicePublic(BaseModel):
    device_id: str
    truck_id: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, device: Device) -> DevicePublic:
        return cls(**vars(device))


class DeviceIssued(DevicePublic):
    key: str = Field(description="The device key, shown only this once.")


def _shipment(row: dict[str, Any]) -> dict[str, Any]:
    position = None if row["position_at"] is None else Position(at=row["position_at"], lat=row["lat"],
                                                                 lon=row["lon"], speed_kmh=row["speed_kmh"])
    return {"shipment_id": row["shipment_id"], "truck_id": row["truck_id"], "origin_site_id": row["origin_site_id"],
            "destination_site_id": row["destination_site_id"], "status": row["status"], "status_at": row["as_of"],
            "promised_from": row["promised_from"], "promised_to": row["promised_to"], "eta": row["eta"],
            "eta_low": row["eta_low"], "eta_high": row["eta_high"],
            "remaining_km": None if row["remaining_m"] is None else round(row["remaining_m"] / 1000.0, 2),
            "lateness_min": None if row["lateness_s"] is None else round(row["lateness_s"] / 60.0, 1),
            "last_position": position}


@router.get("/shipments", response_model=list[ShipmentPublic], summary="Shipments with status, position and ETA")
def read_shipments(
    conn: Connection, caller: LogisticsReader,
    status_: Annotated[ShipmentStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ShipmentPublic]:
    return [ShipmentPublic(**_shipment(r)) for r in list_shipments(conn, status_, limit)]


@router.get("/shipments/{shipment_id}", response_model=ShipmentDetail, summary="A shipment's milestone timeline",
            responses={404: {"description": "No such shipment in master data."}})
def read_shipment(conn: Connection, caller: LogisticsReader, shipment_id: EntityId) -> ShipmentDetail:
    row = shipment_detail(conn, shipment_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no shipment {shipment_id!r}")
    etas = [EtaPoint(**{**e, "remaining_km": round(e.pop("remaining_m") / 1000.0, 2)}) for e in row["etas"]]
    return ShipmentDetail(**_shipment(row), milestones=[Milestone(**m) for m in row["milestones"]], etas=etas)


def _known_truck(conn: Connection, truck_id: str) -> None:
    if conn.execute("SELECT 1 FROM trucks WHERE id = %s", (truck_id,)).fetchone() is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no truck {truck_id!r}")


@router.get("/trucks/{truck_id}/track", response_model=list[TrackPoint], summary="A truck's positions in time order",
            responses={404: {"description": "No such truck in master data."}})
def read_track(
    conn: Connection, caller: LogisticsReader, truck_id: EntityId,
    since: Annotated[datetime | None, Query()] = None, until: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=50_000)] = 5000,
    include_rejected: Annotated[bool, Query(description="Also outliers and late pings.")] = False,
) -> list[TrackPoint]:
    _known_truck(conn, truck_id)
    rows = truck_track(conn, truck_id, since, until, limit, include_rejected)
    return [TrackPoint(at=r.pop("time"), **r) for r in rows]


def _csv(rows: Sequence[BaseModel], name: str) -> Response:
    out = io.StringIO()
    fields = list(type(rows[0]).model_fields) if rows else []
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow(row.model_dump(mode="json"))
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="{name}.csv"'})


@router.get("/trucks/{truck_id}/trips", response_model=list[Trip], responses=_CSV,
            summary="A truck's trips (its shipments from departure to arrival)")
def read_trips(conn: Connection, caller: LogisticsReader, truck_id: EntityId, format: Format = "json") -> Any:
    _known_truck(conn, truck_id)
    rows = conn.execute(
        "SELECT s.id, m.milestone, m.at FROM shipments s LEFT JOIN shipment_milestones m ON m.shipment_id = s.id "
        "WHERE s.truck_id = %s ORDER BY s.promised_from, s.id", (truck_id,)).fetchall()
    times: dict[str, dict[str, datetime]] = {}
    for row in rows:
        r = cast(dict[str, Any], row)
        times.setdefault(r["id"], {})
        if r["milestone"]:
            times[r["id"]][r["milestone"]] = r["at"]
    trips = []
    for sid, t in times.items():
        dep, arr = t.get("departed"), t.get("arrived")
        distance = None
        if dep and arr:
            track = [(p["time"], p["lat"], p["lon"]) for p in truck_track(conn, truck_id, dep, arr, 50_000)]
            distance = round(track_length_m(track) / 1000.0, 2)
        trips.append(Trip(shipment_id=sid, departed=dep, arrived=arr, delivered=t.get("delivered"),
                          duration_min=round((arr - dep).total_seconds() / 60.0, 1) if dep and arr else None,
                          distance_km=distance))
    return _csv(trips, f"{truck_id}-trips") if format == "csv" else trips


@router.get("/trucks/{truck_id}/stops", response_model=list[StopPublic], responses=_CSV,
            summary="Where a truck stood still (within 75 m) for at least min_minutes")
def read_stops(
    conn: Connection, caller: LogisticsReader, truck_id: EntityId,
    since: Annotated[datetime | None, Query()] = None, until: Annotated[datetime | None, Query()] = None,
    min_minutes: Annotated[float, Query(gt=0, le=1440)] = 5.0, format: Format = "json",
) -> Any:
    _known_truck(conn, truck_id)
    track = [(p["time"], p["lat"], p["lon"]) for p in truck_track(conn, truck_id, since, until, 50_000)]
    stops = [StopPublic(started_at=s.started_at, ended_at=s.ended_at, lat=round(s.lat, 6), lon=round(s.lon, 6),
                        duration_min=round(s.duration.total_seconds() / 60.0, 1))
             for s in find_stops(track, min_duration=timedelta(minutes=min_minutes))]
    return _csv(stops, f"{truck_id}-stops") if format == "csv" else stops


@router.get("/logistics/map", response_model=MapConfig, summary="Map settings for the Dispatch page")
def read_map_config(caller: LogisticsReader, app_settings: AppSettings) -> MapConfig:
    params = app_settings.logistics
    return MapConfig(tile_url=params.tile_url or None, attribution=params.tile_attribution)


@router.get("/devices", response_model=list[DevicePublic], summary="Tracker devices (never their keys)")
def read_devices(conn: Connection, caller: DeviceAdmin,
                 include_revoked: Annotated[bool, Query()] = False) -> list[DevicePublic]:
    return [DevicePublic.of(d) for d in list_devices(conn, include_revoked)]


@router.post("/devices", response_model=DeviceIssued, status_code=status.HTTP_201_CREATED,
             summary="Register a tracker for a truck; its key is returned once",
             responses={409: {"description": "The device id is already registered."}})
def add_device(conn: Connection, caller: DeviceAdmin, body: DeviceCreate) -> DeviceIssued:
    with conn.transaction():
        try:
            device, key = create_device(conn, body.device_id, body.truck_id)
        except DeviceError as exc:
            if "already" in str(exc):
                raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
            raise field_error(("body", "truck_id"), str(exc)) from None
        record_change(conn, actor=caller.actor, role=caller.role, action="create", resource="devices",
                      resource_id=device.device_id, details={"truck_id": device.truck_id})
    return DeviceIssued(**vars(device), key=key)


@router.delete("/devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a tracker's key",
               responses={404: {"description": "No live device with this id."}})
def delete_device(conn: Connection, caller: DeviceAdmin, device_id: DeviceId) -> Response:
    with conn.transaction():
        if not revoke_device(conn, device_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no live device {device_id!r}")
        record_change(conn, actor=caller.actor, role=caller.role, action="revoke", resource="devices",
                      resource_id=device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
