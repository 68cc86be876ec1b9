"""Write a validated :class:`Scenario` into the master-data tables, all or nothing.

Everything is upserted by primary key in one transaction, so loading the same file twice leaves the same
rows, and a failure (a constraint, a lost connection) leaves the tables as they were. BOM lines and shipment
items are replaced per parent. Row counts per table are returned and recorded in ``masterdata_loads``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from millstream.masterdata import (
    Bom,
    EpcMapping,
    Location,
    Machine,
    Material,
    ProductionOrder,
    Receipt,
    Scenario,
    Shipment,
    Site,
    StockLevel,
    StockPolicy,
    Truck,
)

__all__ = ["MASTERDATA_TABLES", "load_scenario", "record_rows", "table_columns", "upsert_records"]

_UPSERTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # table: (conflict target, columns in insert order)
    "sites": ("id", ("id", "name", "kind", "lat", "lon", "geofence")),
    "locations": ("id", ("id", "site_id", "name", "kind", "direction", "stores")),
    "materials": ("id", ("id", "name", "kind", "uom", "gtin", "reorder_point", "reorder_qty")),
    "bom_lines": ("product_id, material_id", ("product_id", "material_id", "quantity", "scrap_factor")),
    "machines": ("id", ("id", "name", "site_id", "location_id", "kind", "cycle_time_s", "opcua_endpoint",
                        "opcua_nodes")),
    "production_orders": ("id", ("id", "machine_id", "product_id", "planned_qty", "status", "sequence")),
    "trucks": ("id", ("id", "plate", "capacity_pallets")),
    "shipments": ("id", ("id", "truck_id", "origin_site_id", "destination_site_id", "promised_from",
                         "promised_to", "status", "route")),
    "shipment_items": ("shipment_id, material_id", ("shipment_id", "material_id", "quantity")),
    "epc_mappings": ("scheme, code", ("scheme", "code", "material_id", "quantity")),
    "receipts": ("id", ("id", "location_id", "sscc", "material_id", "quantity", "expected_at")),
    "opening_stock": ("material_id, location_id", ("material_id", "location_id", "quantity")),
    "stock_policies": ("material_id, location_id", ("material_id", "location_id", "reorder_point", "safety_stock",
                                                    "max_stock", "order_multiple", "lead_time_h", "service_z")),
}

#: Tables in load order (parents before children).
MASTERDATA_TABLES: tuple[str, ...] = tuple(_UPSERTS)


def record_rows(record: Any) -> dict[str, list[tuple[Any, ...]]]:
    """The rows one master-data record becomes, per table (a BOM or shipment also fills its child table)."""
    x = record
    match x:
        case Site():
            return {"sites": [(x.id, x.name, x.kind, x.lat, x.lon, Jsonb(x.geofence))]}
        case Location():
            return {"locations": [(x.id, x.site_id, x.name, x.kind, x.direction, list(x.stores))]}
        case Material():
            return {"materials": [(x.id, x.name, x.kind, x.uom, x.gtin, x.reorder_point, x.reorder_qty)]}
        case Bom():
            return {"bom_lines": [(x.product_id, c.material_id, c.quantity, c.scrap_factor) for c in x.components]}
        case Machine():
            return {"machines": [(x.id, x.name, x.site_id, x.location_id, x.kind, x.cycle_time_s,
                                  x.opcua.endpoint, Jsonb(x.opcua.nodes))]}
        case ProductionOrder():
            return {"production_orders": [(x.id, x.machine_id, x.product_id, x.planned_qty, x.status,
                                           x.sequence)]}
        case Truck():
            return {"trucks": [(x.id, x.plate, x.capacity_pallets)]}
        case Shipment():
            return {"shipments": [(x.id, x.truck_id, x.origin_site_id, x.destination_site_id, x.promised_from,
                                   x.promised_to, x.status, Jsonb(x.route))],
                    "shipment_items": [(x.id, i.material_id, i.quantity) for i in x.items]}
        case EpcMapping():
            return {"epc_mappings": [(x.scheme, x.code, x.material_id, x.quantity)]}
        case Receipt():
            return {"receipts": [(x.id, x.location_id, x.sscc, x.material_id, x.quantity, x.expected_at)]}
        case StockLevel():
            return {"opening_stock": [(x.material_id, x.location_id, x.quantity)]}
        case StockPolicy():
            return {"stock_policies": [(x.material_id, x.location_id, x.reorder_point, x.safety_stock, x.max_stock,
                                        x.order_multiple, x.lead_time_h, x.service_z)]}
    msg = f"not a master-data record: {type(record).__name__}"
    raise TypeError(msg)


def _rows(records: Iterable[Any]) -> dict[str, list[tuple[Any, ...]]]:
    rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in MASTERDATA_TABLES}
    for record in records:
        for table, batch in record_rows(record).items():
            rows[table] += batch
    return rows


def _scenario_records(s: Scenario) -> list[Any]:
    return [*s.sites, *s.locations, *s.materials, *s.boms, *s.machines, *s.production_orders, *s.trucks,
            *s.shipments, *s.epc_mappings, *s.receipts, *s.initial_stock,
            *s.stock_policies]


def _upsert_sql(table: str) -> str:
    conflict, columns = _UPSERTS[table]
    keys = {c.strip() for c in conflict.split(",")}
    updates = [f"{c} = EXCLUDED.{c}" for c in columns if c not in keys]
    action = "DO UPDATE SET " + ", ".join(updates) if updates else "DO NOTHING"
    placeholders = ", ".join(["%s"] * len(columns))
    # Table and column names come from the constant _UPSERTS above, never from input.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) ON CONFLICT ({conflict}) {action}"  # noqa: S608


def load_scenario(
    conn: Any, scenario: Scenario, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Upsert ``scenario`` in one transaction; ``progress(table, rows)`` is called after each table."""
    with conn.transaction():
        counts = upsert_records(conn, _scenario_records(scenario), progress)
        conn.execute(
            "INSERT INTO masterdata_loads (scenario, counts) VALUES (%s, %s)", (scenario.name, Jsonb(counts))
        )
    return counts


def upsert_records(
    conn: Any, records: Sequence[Any], progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Upsert master-data records, parents first; a BOM's lines and a shipment's items are replaced.

    Runs in the caller's transaction (wrap it in ``conn.transaction()`` for all or nothing); returns the row
    count per table.
    """
    rows = _rows(records)
    boms = [r.product_id for r in records if isinstance(r, Bom)]
    shipments = [r.id for r in records if isinstance(r, Shipment)]
    _replace_children(conn, "bom_lines", "product_id", boms)
    _replace_children(conn, "shipment_items", "shipment_id", shipments)
    counts: dict[str, int] = {}
    for table in MASTERDATA_TABLES:
        batch = rows[table]
        if batch:
            with conn.cursor() as cur:
                cur.executemany(_upsert_sql(table), batch)
        counts[table] = len(batch)
        if progress:
            progress(table, len(batch))
    return counts


def table_columns(table: str) -> tuple[str, ...]:
    """The columns of a master-data table, in insert order."""
    return _UPSERTS[table][1]


def _replace_children(conn: Any, table: str, parent_column: str, parents: Sequence[str]) -> None:
    if parents:
        conn.execute(f"DELETE FROM {table} WHERE {parent_column} = ANY(%s)", (list(parents),))  # noqa: S608
