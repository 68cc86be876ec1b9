"""Production -> stock: a :class:`ProductionDelta` becomes backflush movements (BOM explosion), a
finished-goods receipt and a production confirmation.

Each part made, good or scrap, consumes ``quantity * (1 + scrap_factor)`` of every BOM component from the
machine's line-side location; good parts are received into the product's put-away warehouse at the
machine's site (the machine's own location when the site has no warehouse for it), in a lot named
after the production order. Ids derive from the delta's id, so a replay
yields the same movements.
"""

from __future__ import annotations

from millstream.inventory.catalog import Catalog
from millstream.inventory.counters import ProductionDelta
from millstream.inventory.movements import Movement, quantity

__all__ = ["production_movements"]


def production_movements(delta: ProductionDelta, catalog: Catalog) -> list[Movement]:
    """The backflush and receipt movements of ``delta`` (order and machine are known to the catalog)."""
    order = catalog.orders[delta.order_id]
    machine = catalog.machines[delta.machine_id]
    parts = delta.good + delta.scrap
    common = {"occurred_at": delta.at, "source_id": delta.id, "reference": order.id, "machine_id": machine.id,
              "evidence_ids": delta.evidence_ids}
    movements = []
    bom = catalog.boms.get(order.product_id)
    for line in bom.components if bom else ():
        per_part = quantity(line.quantity) * (1 + quantity(line.scrap_factor))
        movements.append(Movement(movement_type="backflush", material_id=line.material_id,
                                  quantity=quantity(per_part * parts), from_location_id=machine.location_id,
                                  **common))
    store = catalog.put_away(machine.site_id, order.product_id) or machine.location_id
    if delta.good:
        movements.append(Movement(movement_type="production_receipt", material_id=order.product_id,
                                  quantity=quantity(delta.good), to_location_id=store, lot=order.id, **common))
    return movements
