"""The master data the inventory pipeline looks things up in, indexed once per flow.

Put-away: goods received at a site (gate receipts, finished parts) go to the site's warehouse whose
``stores`` lists the material's kind, else to its first warehouse that stores any kind; goods issued to a
shipment and transferred to a line side are taken from the same place. Readers: ``RDR-<location id>`` at
each dock door and line-side location (:func:`millstream.masterdata.reader_id`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from millstream.masterdata import (
    Bom,
    Location,
    Machine,
    Material,
    ProductionOrder,
    Scenario,
    Shipment,
    StockPolicy,
    reader_id,
)

__all__ = ["GATE_SOURCE", "OPENING_SOURCE", "Catalog", "EpcTarget", "machine_source"]

#: The sources of movements (:mod:`millstream.inventory.ordering`): the opening stock, the gate stream, and
#: each machine's part counters (:func:`machine_source`).
OPENING_SOURCE, GATE_SOURCE = "opening", "gates"


def machine_source(machine_id: str) -> str:
    return f"machine:{machine_id}"


class EpcTarget:
    """What a tag stands for: ``quantity`` of ``material_id`` (a case of a GTIN or a pallet's content)."""

    __slots__ = ("material_id", "quantity", "receipt_id")

    def __init__(self, material_id: str, quantity: float, receipt_id: str | None = None) -> None:
        self.material_id = material_id
        self.quantity = quantity
        self.receipt_id = receipt_id


class Catalog:
    """Indexes of one :class:`Scenario` for the pipeline's look-ups."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.materials: dict[str, Material] = {m.id: m for m in scenario.materials}
        self.boms: dict[str, Bom] = {b.product_id: b for b in scenario.boms}
        self.machines: dict[str, Machine] = {m.id: m for m in scenario.machines}
        self.orders: dict[str, ProductionOrder] = {o.id: o for o in scenario.production_orders}
        self.locations: dict[str, Location] = {loc.id: loc for loc in scenario.locations}
        self.policies: dict[tuple[str, str], StockPolicy] = {
            (p.material_id, p.location_id): p for p in scenario.stock_policies}
        self.readers: dict[str, Location] = {
            reader_id(loc.id): loc for loc in scenario.locations if loc.kind in {"dock_door", "line_side"}}
        self._warehouses: dict[str, list[Location]] = defaultdict(list)
        for loc in scenario.locations:
            if loc.kind == "warehouse":
                self._warehouses[loc.site_id].append(loc)
        receipts = {r.sscc: r for r in scenario.receipts}
        self.by_gtin: dict[str, EpcTarget] = {}
        self.by_sscc: dict[str, EpcTarget] = {}
        for m in scenario.materials:
            if m.gtin is not None:
                self.by_gtin[m.gtin] = EpcTarget(m.id, 1)
        for mapping in scenario.epc_mappings:
            if mapping.scheme == "sgtin":
                self.by_gtin[mapping.code] = EpcTarget(mapping.material_id, mapping.quantity)
            else:
                receipt = receipts.get(mapping.code)
                self.by_sscc[mapping.code] = EpcTarget(mapping.material_id, mapping.quantity,
                                                       receipt.id if receipt else None)
        for sscc, r in receipts.items():
            self.by_sscc.setdefault(sscc, EpcTarget(r.material_id, r.quantity, r.id))
        self._shipments: dict[str, list[Shipment]] = defaultdict(list)
        for sh in scenario.shipments:
            if sh.status not in {"cancelled", "delivered"}:
                self._shipments[sh.origin_site_id].append(sh)
        made: dict[str, set[str]] = defaultdict(set)  # machine -> the materials its orders make or consume
        for order in scenario.production_orders:
            lines = bom.components if (bom := self.boms.get(order.product_id)) else ()
            made[order.machine_id] |= {order.product_id, *(line.material_id for line in lines)}
        self._materials_of = {machine_source(m): tuple(sorted(ids)) for m, ids in made.items()}
        self._sources: dict[str, frozenset[str]] = {}
        for source, ids in self._materials_of.items():
            for material in ids:
                self._sources[material] = self._sources.get(material, frozenset()) | {source}

    def put_away(self, site_id: str, material_id: str) -> str | None:
        """The warehouse location at ``site_id`` that keeps ``material_id`` (see the module docstring)."""
        material = self.materials.get(material_id)
        if material is None:
            return None
        houses = self._warehouses.get(site_id, [])
        for loc in houses:
            if material.kind in loc.stores:
                return loc.id
        return next((loc.id for loc in houses if not loc.stores), None)

    def shipment_for(self, site_id: str, material_id: str, at: datetime) -> Shipment | None:
        """The shipment leaving ``site_id`` with ``material_id`` whose promised window starts nearest ``at``."""
        candidates = [sh for sh in self._shipments.get(site_id, [])
                      if any(item.material_id == material_id for item in sh.items)]
        if not candidates:
            return None
        return min(candidates, key=lambda sh: (abs((sh.promised_from - at).total_seconds()), sh.id))

    def sources_of(self, material_id: str) -> frozenset[str]:
        """The sources that can bring movements of ``material_id``: the opening stock, the gate stream and the
        machines whose production orders make or consume it (:mod:`millstream.inventory.ordering`)."""
        return self._sources.get(material_id, frozenset()) | {OPENING_SOURCE, GATE_SOURCE}

    def materials_of(self, source: str) -> tuple[str, ...]:
        """The materials whose movements ``source`` can bring (a machine: those its orders make or consume)."""
        if source in {OPENING_SOURCE, GATE_SOURCE}:
            return tuple(self.materials)
        return self._materials_of.get(source, ())

    def site_of(self, location_id: str) -> str | None:
        loc = self.locations.get(location_id)
        return loc.site_id if loc else None
