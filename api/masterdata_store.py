"""Reading master data back as record dicts, and the resources the API exposes.

Writing goes through :func:`connectors.postgres.masterdata.upsert_records` (the same upserts that
``millstream masterdata load`` uses). Reads here turn rows into the shape of the records in
:mod:`millstream.masterdata` (a machine's OPC-UA mapping nested, a BOM's lines and a shipment's items as
lists).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.postgres.masterdata import table_columns
from millstream.masterdata import (
    Bom,
    EpcMapping,
    Location,
    Machine,
    Material,
    ProductionOrder,
    Receipt,
    Shipment,
    Site,
    Truck,
)

__all__ = ["RESOURCES", "MasterdataResource", "fetch_records", "record_exists"]


@dataclass(frozen=True)
class MasterdataResource:
    """One kind of master-data record as the API serves it under ``/masterdata/<path>``."""

    path: str
    singular: str
    record: type[Any]
    table: str
    key_fields: tuple[str, ...] = ("id",)

    def key(self, record: Any) -> tuple[str, ...]:
        return tuple(str(getattr(record, name)) for name in self.key_fields)

    def resource_id(self, key: tuple[str, ...]) -> str:
        return "/".join(key)


RESOURCES: tuple[MasterdataResource, ...] = (
    MasterdataResource("sites", "site", Site, "sites"),
    MasterdataResource("locations", "location", Location, "locations"),
    MasterdataResource("materials", "material", Material, "materials"),
    MasterdataResource("boms", "BOM", Bom, "bom_lines", ("product_id",)),
    MasterdataResource("machines", "machine", Machine, "machines"),
    MasterdataResource("production-orders", "production order", ProductionOrder, "production_orders"),
    MasterdataResource("trucks", "truck", Truck, "trucks"),
    MasterdataResource("shipments", "shipment", Shipment, "shipments"),
    MasterdataResource("epc-mappings", "EPC mapping", EpcMapping, "epc_mappings", ("scheme", "code")),
    MasterdataResource("receipts", "receipt", Receipt, "receipts"),
)

_ITEMS = "json_agg(json_build_object('material_id', material_id, 'quantity', quantity) ORDER BY material_id)"


def _select(resource: MasterdataResource, where: str) -> str:
    table = resource.table
    if table == "bom_lines":
        return (f"SELECT product_id, {_ITEMS} AS components FROM bom_lines {where}"  # noqa: S608 - constants
                " GROUP BY product_id ORDER BY product_id LIMIT %s OFFSET %s")
    columns = ", ".join(f"t.{c}" for c in table_columns(table))
    if table == "shipments":
        columns += (f", COALESCE((SELECT {_ITEMS} FROM shipment_items i WHERE i.shipment_id = t.id),"  # noqa: S608
                    " '[]'::json) AS items")
    order = ", ".join(f"t.{k}" for k in resource.key_fields)
    return f"SELECT {columns} FROM {table} t {where} ORDER BY {order} LIMIT %s OFFSET %s"  # noqa: S608


def _record_dict(resource: MasterdataResource, row: dict[str, Any]) -> dict[str, Any]:
    if resource.table == "machines":
        row = dict(row)
        row["opcua"] = {"endpoint": row.pop("opcua_endpoint"), "nodes": row.pop("opcua_nodes")}
    return row


def fetch_records(
    conn: Any, resource: MasterdataResource, key: tuple[str, ...] | None = None, *, limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Records of ``resource`` (all, paged, or the one with ``key``) as dicts shaped like the record model."""
    params: list[Any] = []
    where = ""
    if key is not None:
        where = "WHERE " + " AND ".join(f"{k} = %s" for k in resource.key_fields)
        params += list(key)
    rows = conn.execute(_select(resource, where), [*params, limit, offset]).fetchall()
    return [_record_dict(resource, r) for r in rows]


def record_exists(conn: Any, resource: MasterdataResource, key: tuple[str, ...]) -> bool:
    where = " AND ".join(f"{k} = %s" for k in resource.key_fields)
    row = conn.execute(f"SELECT 1 FROM {resource.table} WHERE {where} LIMIT 1", key).fetchone()  # noqa: S608
    return row is not None
