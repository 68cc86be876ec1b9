"""``/osmand``: GPS trackers (the Traccar Client app, OsmAnd protocol) report fixes here, one per request.

Authenticated per device (:mod:`connectors.postgres.devices`), not by API key: the device id must be
registered (``millstream device add`` or ``POST /api/v1/devices``) and the request must carry its key.
An accepted fix becomes the device's truck's :class:`GpsPing` on ``fleet.gps`` — the same topic the fleet
publishes to — and is answered 200 once the broker has it. Otherwise the answer says why: 400 (no usable fix:
missing id, coordinates out of range or NaN, bad timestamp), 401 (key missing or wrong), 404 (unknown or
revoked device), 503 (broker not reachable: the tracker retries; a repeated fix is the same event).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.deps import AppProducer, AppSettings, Connection
from connectors.kafka.topics import FLEET_GPS
from connectors.postgres.devices import check_device
from millstream.clock import process_clock
from millstream.events import TimePolicy
from millstream.logistics.osmand import OsmandError, parse_osmand, to_ping

__all__ = ["router"]

router = APIRouter(tags=["osmand"])

_MAX_BODY = 64 * 1024
_DELIVERY_WAIT_S = 5.0


class OsmandAccepted(BaseModel):
    """The fix was accepted: published as ``event_id`` for ``truck_id``."""

    event_id: str
    truck_id: str


_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "No usable fix (the reason says which field)."},
    404: {"description": "Unknown or revoked device id."},
    503: {"description": "The broker did not take the fix in time; send it again."},
}


async def _values(request: Request) -> dict[str, Any]:
    values: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    if not body:
        return values
    if len(body) > _MAX_BODY:
        raise OsmandError("body too large")
    content_type = request.headers.get("content-type", "")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise OsmandError("body is not UTF-8") from None
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OsmandError(f"body is not JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise OsmandError("JSON body must be an object")
        return {**values, **data}
    return {**values, **dict(parse_qsl(text))}


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


_DOC = """Query parameters ``id, lat, lon, timestamp, speed (knots), bearing, altitude, accuracy, batt`` or the
Traccar Client JSON body; the device key as ``Authorization: Bearer``, ``key=`` or ``id=<device>~<key>``."""


@router.post("/osmand", response_model=OsmandAccepted, responses=_RESPONSES, description=_DOC,
             summary="Report a GPS fix (OsmAnd protocol, Traccar Client)")
async def osmand_post(request: Request, conn: Connection, producer: AppProducer, app_settings: AppSettings
                      ) -> OsmandAccepted:
    return await _report(request, conn, producer, app_settings)


@router.get("/osmand", response_model=OsmandAccepted, responses=_RESPONSES, description=_DOC,
            summary="Report a GPS fix (OsmAnd protocol, query parameters)")
async def osmand_get(request: Request, conn: Connection, producer: AppProducer, app_settings: AppSettings
                     ) -> OsmandAccepted:
    return await _report(request, conn, producer, app_settings)


async def _report(request: Request, conn: Any, producer: Any, app_settings: Any) -> OsmandAccepted:
    try:
        fix = parse_osmand(await _values(request), _bearer(request))
    except OsmandError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    verdict = await run_in_threadpool(check_device, conn, fix.device_id, fix.key)
    if verdict.device is None:
        raise HTTPException(verdict.status, verdict.reason)
    now = process_clock(app_settings.clock).now()  # the run's clock under `millstream up --speed`
    try:
        ping = to_ping(fix, verdict.device.truck_id, now, TimePolicy.from_settings(app_settings.events))
    except OsmandError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    producer.send(FLEET_GPS, ping, timestamp=now)
    if await run_in_threadpool(producer.flush, _DELIVERY_WAIT_S):
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the broker did not take the fix; send it again")
    return OsmandAccepted(event_id=ping.id, truck_id=ping.truck_id)
