"""EPCIS 2.0: the RFID gate passes as ObjectEvents in an ``EPCISQueryDocument`` (JSON-LD).

``GET /epcis/events`` filters by event time (``GE_eventTime``, ``LT_eventTime``), location (``location``:
the gate or where the goods went, as a location id or ``urn:millstream:location:<id>``) and EPC
(``MATCH_epc``: an EPC URI, or the tag's hex), ``perPage`` events at a time. When more events follow, the
``Link`` header (``rel="next"``) and the ``nextPageToken`` query parameter continue where the page ended.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import AwareDatetime

from api.deps import Connection, EpcisReader
from connectors.postgres.gate_events import query_gate_events
from millstream.epc import EpcError, decode_epc
from millstream.events.base import utc_now
from millstream.inventory.epcis import location_id_of, object_event, query_document

__all__ = ["router"]

router = APIRouter(prefix="/epcis", tags=["epcis"])


def _token(row: dict[str, Any]) -> str:
    raw = f"{row['first_seen_at'].isoformat()}|{row['event_id']}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after(token: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        at, _, event_id = text.partition("|")
        moment = datetime.fromisoformat(at)
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "nextPageToken is not one this API gave out") from None
    if not event_id or moment.tzinfo is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "nextPageToken is not one this API gave out")
    return moment, event_id


def _epc_uri(value: str) -> str:
    if value.startswith("urn:epc:id:"):
        return value
    try:
        return decode_epc(value).epc_uri
    except EpcError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"MATCH_epc: {exc}") from None


@router.get("/events", summary="Gate passes as EPCIS 2.0 ObjectEvents (EPCISQueryDocument, JSON-LD)",
            responses={400: {"description": "A filter or page token that cannot be used."}})
def read_events(
    request: Request, response: Response, conn: Connection, _: EpcisReader,
    GE_eventTime: AwareDatetime | None = None,
    LT_eventTime: AwareDatetime | None = None,
    location: Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9:._-]+$")] = None,
    MATCH_epc: Annotated[str | None, Query(min_length=1, max_length=200,
                                           pattern=r"^[A-Za-z0-9:._-]+$")] = None,
    perPage: Annotated[int, Query(ge=1, le=1000)] = 100,
    nextPageToken: Annotated[str | None, Query(min_length=1, max_length=400,
                                               pattern=r"^[A-Za-z0-9_-]+$")] = None,
) -> dict[str, Any]:
    rows = query_gate_events(conn, since=GE_eventTime, until=LT_eventTime,
                             location_id=location_id_of(location) if location else None,
                             epc_uri=_epc_uri(MATCH_epc) if MATCH_epc else None,
                             after=_after(nextPageToken) if nextPageToken else None, limit=perPage + 1)
    page = rows[:perPage]
    if len(rows) > perPage:
        url = request.url.include_query_params(nextPageToken=_token(page[-1]))
        response.headers["Link"] = f'<{url}>; rel="next"'
    response.headers["GS1-EPCIS-Version"] = "2.0.0"
    return query_document([object_event(r) for r in page], utc_now())
