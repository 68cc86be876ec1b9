"""The one read path for ERP master data: rows of the master-data tables back into typed records.

:mod:`connectors.postgres.masterdata` writes a :class:`~millstream.masterdata.Scenario` into the tables; this
module reads them back — a machine's OPC-UA mapping nested, a BOM's lines and a shipment's items as lists — for
the dataflows (:func:`read_scenario`, the whole master data as one validated ``Scenario``) and for the API
(:func:`fetch_records`, one kind of record paged or by key). The scenario's name is the last one loaded
(``masterdata_loads``); the simulators' parameters, description and epoch live only in the scenario file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row

from connectors.postgres.masterdata import table_columns
from millstream.errors import ScenarioError
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
    parse_scenario,
)

__all__ = ["RECORD_TABLES", "RecordTable", "fetch_records", "read_records", "read_scenario", "record_exists"]


@dataclass(frozen=True)
class RecordTable:
    """Where one kind of master-data record is stored: its table, key columns and ``Scenario`` field."""

    record: type[Any]
    table: str
    key_fields: tuple[str, ...]
    scenario_field: str


RECORD_TABLES: dict[type[Any], RecordTable] = {t.record: t for t in (
    RecordTable(Site, "sites", ("id",), "sites"),
    RecordTable(Location, "locations", ("id",), "locations"),
    RecordTable(Material, "materials", ("id",), "materials"),
    RecordTable(Bom, "bom_lines", ("product_id",), "boms"),
    RecordTable(Machine, "machines", ("id",), "machines"),
    RecordTable(ProductionOrder, "production_orders", ("id",), "production_orders"),
    RecordTable(Truck, "trucks", ("id",), "trucks"),
    RecordTable(Shipment, "shipments", ("id",), "shipments"),
    RecordTable(EpcMapping, "epc_mappings", ("scheme", "code"), "epc_mappings"),
    RecordTable(Receipt, "receipts", ("id",), "receipts"),
    RecordTable(StockLevel, "opening_stock", ("material_id", "location_id"), "initial_stock"),
    RecordTable(StockPolicy, "stock_policies", ("material_id", "location_id"), "stock_policies"),
)}

_ITEMS = "json_agg(json_build_object('material_id', material_id, 'quantity', quantity) ORDER BY material_id)"
_BOM_LINES = ("json_agg(json_build_object('material_id', material_id, 'quantity', quantity, 'scrap_factor', "
              "scrap_factor) ORDER BY material_id)")


def _select(kind: RecordTable, where: str, *, paged: bool, lock: bool = False) -> str:
    # Table and column names come from the constants above, never from input.
    page = " LIMIT %s OFFSET %s" if paged else ""
    if kind.table == "bom_lines":
        return (f"SELECT product_id, {_BOM_LINES} AS components FROM bom_lines {where}"  # noqa: S608
                f" GROUP BY product_id ORDER BY product_id{page}")
    columns = ", ".join(f"t.{c}" for c in table_columns(kind.table))
    if kind.table == "shipments":
        columns += (f", COALESCE((SELECT {_ITEMS} FROM shipment_items i WHERE i.shipment_id = t.id),"  # noqa: S608
                    " '[]'::json) AS items")
    order = ", ".join(f"t.{k}" for k in kind.key_fields)
    suffix = " FOR UPDATE" if lock else ""
    return f"SELECT {columns} FROM {kind.table} t {where} ORDER BY {order}{page}{suffix}"  # noqa: S608


def _record_dict(kind: RecordTable, row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    if kind.table == "machines":
        row["opcua"] = {"endpoint": row.pop("opcua_endpoint"), "nodes": row.pop("opcua_nodes")}
    return row


def _where(kind: RecordTable, key: tuple[str, ...] | None) -> str:
    if key is None:
        return ""
    return "WHERE " + " AND ".join(f"{k} = %s" for k in kind.key_fields)


def fetch_records(
    conn: Any, record: type[Any], key: tuple[str, ...] | None = None, *, limit: int | None = 100,
    offset: int = 0, for_update: bool = False,
) -> list[dict[str, Any]]:
    """Records of one kind (all, paged, or the one with ``key``) as dicts shaped like the record model.

    ``limit=None`` reads all of them; ``for_update`` locks the rows read (not for BOMs, which are grouped).
    """
    kind = RECORD_TABLES[record]
    params: list[Any] = list(key or ())
    if limit is not None:
        params += [limit, offset]
    query = _select(kind, _where(kind, key), paged=limit is not None, lock=for_update)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, params).fetchall()
    return [_record_dict(kind, r) for r in rows]


def record_exists(conn: Any, record: type[Any], key: tuple[str, ...]) -> bool:
    """Whether a record of this kind with ``key`` is stored."""
    kind = RECORD_TABLES[record]
    query = f"SELECT 1 FROM {kind.table} {_where(kind, key)} LIMIT 1"  # noqa: S608 - constants
    return conn.execute(query, key).fetchone() is not None


def read_records(conn: Any, record: type[Any]) -> list[Any]:
    """Every stored record of one kind, typed and validated, in key order."""
    return [record.model_validate(r) for r in fetch_records(conn, record, limit=None)]


def read_scenario(conn: Any) -> Scenario:
    """The whole master data in the tables as one validated :class:`Scenario`.

    Raises :class:`ScenarioError` when no site is stored (nothing loaded yet) or the rows no longer hold
    together (a reference broken by hand).
    """
    data: dict[str, Any] = {kind.scenario_field: fetch_records(conn, kind.record, limit=None)
                            for kind in RECORD_TABLES.values()}
    if not data["sites"]:
        msg = "no master data in the database: load a scenario first (millstream masterdata load FILE)"
        raise ScenarioError(msg)
    with conn.cursor(row_factory=dict_row) as cur:
        last = cur.execute("SELECT scenario FROM masterdata_loads ORDER BY id DESC LIMIT 1").fetchone()
    data["name"] = last["scenario"] if last else "database"
    return parse_scenario(data, "master data in the database")
