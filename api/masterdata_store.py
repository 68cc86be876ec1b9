"""The master-data resources the API exposes, read and written through the connectors' one path.

Writing goes through :func:`connectors.postgres.masterdata.upsert_records` (the same upserts that
``millstream masterdata load`` uses); reading through :mod:`connectors.postgres.masterdata_reader` (the same
read path the dataflows use), which shapes rows like the records in :mod:`millstream.masterdata`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.postgres import masterdata_reader
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

def fetch_records(
    conn: Any, resource: MasterdataResource, key: tuple[str, ...] | None = None, *, limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Records of ``resource`` (all, paged, or the one with ``key``) as dicts shaped like the record model."""
    return masterdata_reader.fetch_records(conn, resource.record, key, limit=limit, offset=offset)


def record_exists(conn: Any, resource: MasterdataResource, key: tuple[str, ...]) -> bool:
    return masterdata_reader.record_exists(conn, resource.record, key)
