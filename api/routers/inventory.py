"""Inventory: stock per material x location (lots, reorder point, safety stock, projected run-out), stock
movements (filtered, paged, CSV export) and stock exceptions. Read-only; engineers, the ERP and admins."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel

from api.deps import Connection, InventoryReader
from connectors.postgres.inventory_queries import list_exceptions, list_movements, list_stock
from millstream.inventory.movements import MovementType
from millstream.inventory.stock import StockSample, reorder_levels
from millstream.masterdata import StockPolicy

__all__ = ["router"]

router = APIRouter(tags=["inventory"])

Id = Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


class LotPublic(BaseModel):
    lot: str
    quantity: Decimal
    received_at: datetime


class StockPublic(BaseModel):
    """Stock of a material at a location; reorder point and safety stock are the effective ones (master
    data raised by the dynamic safety stock from the last 24 h of demand)."""

    material_id: str
    location_id: str
    quantity: Decimal
    lots: list[LotPublic]
    reorder_point: float | None
    safety_stock: float | None
    dynamic_safety_stock: float | None
    max_stock: float | None
    hourly_demand: float
    projected_run_out: datetime | None
    below_reorder_point: bool


def _stock(row: dict[str, Any]) -> StockPublic:
    hourly = {int(k): float(v) for k, v in row["hourly"].items()}
    history = tuple(hourly.get(h, 0.0) for h in range(23, 0, -1)) if hourly else ()
    quantity = row["quantity"]
    sample = StockSample(row["material_id"], row["location_id"], quantity, row["as_of"], "", history)
    mean = sum(hourly.values()) / 24 if hourly else 0.0
    run_out = None
    levels = None
    if row["reorder_point"] is not None:
        policy = StockPolicy(material_id=row["material_id"], location_id=row["location_id"],
                             reorder_point=row["reorder_point"], safety_stock=row["safety_stock"],
                             max_stock=row["max_stock"], order_multiple=row["order_multiple"],
                             lead_time_h=row["lead_time_h"], service_z=row["service_z"])
        levels = reorder_levels(sample, policy)
    if mean > 0 and quantity > 0:
        run_out = row["as_of"] + timedelta(hours=float(quantity) / mean)
    return StockPublic(
        material_id=row["material_id"], location_id=row["location_id"], quantity=quantity,
        lots=[LotPublic.model_validate(lot) for lot in row["lots"]],
        reorder_point=levels.reorder_point if levels else None, safety_stock=levels.safety_stock if levels else None,
        dynamic_safety_stock=levels.dynamic_safety_stock if levels else None, max_stock=row["max_stock"],
        hourly_demand=mean, projected_run_out=run_out,
        below_reorder_point=bool(levels and float(quantity) < levels.reorder_point))


@router.get("/stock", response_model=list[StockPublic], summary="Stock per material x location")
def read_stock(conn: Connection, _: InventoryReader, material_id: Id = None, location_id: Id = None,
               limit: Limit = 500, offset: Offset = 0) -> list[StockPublic]:
    return [_stock(r) for r in list_stock(conn, material_id=material_id, location_id=location_id, limit=limit,
                                          offset=offset)]


class MovementPublic(BaseModel):
    movement_id: str
    movement_type: MovementType
    material_id: str
    quantity: Decimal
    from_location_id: str | None
    to_location_id: str | None
    lot: str | None
    occurred_at: datetime
    reference: str | None
    machine_id: str | None
    epc: str | None


_CSV_COLUMNS = list(MovementPublic.model_fields)


@router.get("/movements", response_model=list[MovementPublic], summary="Stock movements, newest first",
            responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv."}})
def read_movements(
    conn: Connection, _: InventoryReader,
    movement_type: Annotated[list[MovementType] | None, Query()] = None,
    material_id: Id = None, location_id: Id = None,
    reference: Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00]+$")] = None,
    since: AwareDatetime | None = None, until: AwareDatetime | None = None,
    format: Literal["json", "csv"] = "json",
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100, offset: Offset = 0,
) -> Any:
    rows = list_movements(conn, movement_type=list(movement_type or []), material_id=material_id,
                          location_id=location_id, reference=reference, since=since, until=until, limit=limit,
                          offset=offset)
    movements = [MovementPublic.model_validate(r) for r in rows]
    if format == "json":
        return movements
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_COLUMNS)
    writer.writeheader()
    for m in movements:
        writer.writerow(m.model_dump(mode="json"))
    return Response(out.getvalue(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="movements.csv"'})


class StockExceptionPublic(BaseModel):
    movement_id: str
    movement_type: str
    kind: str
    material_id: str
    location_id: str
    quantity: Decimal
    on_hand: Decimal
    reason: str
    reference: str | None
    occurred_at: datetime


@router.get("/stock/exceptions", response_model=list[StockExceptionPublic],
            summary="Movements that took stock below zero (applied and flagged), newest first")
def read_exceptions(conn: Connection, _: InventoryReader, material_id: Id = None, location_id: Id = None,
                    limit: Limit = 100, offset: Offset = 0) -> list[StockExceptionPublic]:
    rows = list_exceptions(conn, material_id=material_id, location_id=location_id, limit=limit, offset=offset)
    return [StockExceptionPublic.model_validate(r) for r in rows]
