"""ERP records of the inventory pipeline (appended to the outbox, :mod:`connectors.erp.outbox`).

Every record's event id derives from what caused it (the movement, the production delta, the alert), so
re-running the pipeline over the same input appends nothing new and the ERP sees each record once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from millstream.events.base import WITHOUT_TIME_CHECK, stable_id
from millstream.events.erp import ErpRecord, OutboxRow
from millstream.inventory.counters import ProductionDelta
from millstream.inventory.movements import Movement
from millstream.masterdata import StockPolicy

__all__ = ["confirmation_record", "exception_record", "movement_posting", "movement_record", "proposal_record"]

_MOVEMENT_TYPES = {
    "backflush": "production.goods_issue",
    "production_receipt": "inventory.goods_receipt",
    "goods_receipt": "inventory.goods_receipt",
    "transfer": "inventory.transfer",
    "goods_issue": "inventory.goods_issue",
}


def _record(**fields: Any) -> ErpRecord:
    return ErpRecord.model_validate(fields, context=WITHOUT_TIME_CHECK)


def movement_record(movement: Movement) -> ErpRecord | None:
    """The ERP posting of a movement (``None`` for opening balances, which came from the ERP)."""
    record_type = _MOVEMENT_TYPES.get(movement.movement_type)
    if record_type is None:
        return None
    location = movement.from_location_id or movement.to_location_id
    order = movement.reference if movement.machine_id else None
    keys = {"material": movement.material_id, "location": location, "production_order": order,
            "machine": movement.machine_id,
            "shipment_number": movement.reference if movement.movement_type == "goods_issue" else None}
    payload = {"movement_id": movement.id, "movement_type": movement.movement_type,
               "quantity": str(movement.quantity), "from_location": movement.from_location_id,
               "to_location": movement.to_location_id, "lot": movement.lot, "reference": movement.reference,
               "epc": movement.epc}
    return _record(event_id=stable_id("erp_record", movement.id), record_type=record_type,
                   record_key=f"{movement.material_id}@{location}", erp_keys={k: v for k, v in keys.items() if v},
                   payload=payload, subject_kind="material_location", subject_id=f"{movement.material_id}@{location}",
                   occurred_at=movement.occurred_at, evidence_ids=(movement.id,))


_NO_KEYS = dict.fromkeys(("production_order", "material", "location", "shipment_number", "machine", "site", "truck"))


def movement_posting(movement: Movement) -> OutboxRow | None:
    """:func:`movement_record` as an outbox row, built without validating it again: the movement is a validated
    :class:`Movement` and every field comes from it (the ledger posts one per movement, so this is its hot
    path). ``tests/inventory/test_ledger.py`` checks it equals the validated record."""
    record_type = _MOVEMENT_TYPES.get(movement.movement_type)
    if record_type is None:
        return None
    location = movement.from_location_id or movement.to_location_id
    subject = f"{movement.material_id}@{location}"
    erp_keys = {**_NO_KEYS, "material": movement.material_id, "location": location,
                "production_order": movement.reference if movement.machine_id else None,
                "machine": movement.machine_id,
                "shipment_number": movement.reference if movement.movement_type == "goods_issue" else None}
    event_id = stable_id("erp_record", movement.id)
    record = {"event_id": event_id, "subject_kind": "material_location", "subject_id": subject,
              "occurred_at": movement.occurred_at, "evidence_ids": [movement.id], "record_type": record_type,
              "record_key": subject, "erp_keys": erp_keys,
              "payload": {"movement_id": movement.id, "movement_type": movement.movement_type,
                          "quantity": str(movement.quantity), "from_location": movement.from_location_id,
                          "to_location": movement.to_location_id, "lot": movement.lot,
                          "reference": movement.reference, "epc": movement.epc}}
    return OutboxRow(event_id, record_type, subject, "material_location", subject, movement.occurred_at, record)


def confirmation_record(delta: ProductionDelta, product_id: str) -> ErpRecord:
    """A production confirmation: good and scrap parts of the order since the previous one, and totals."""
    return _record(event_id=stable_id("erp_record", "confirmation", delta.id),
                   record_type="production.confirmation", record_key=f"order:{delta.order_id}",
                   erp_keys={"production_order": delta.order_id, "material": product_id, "machine": delta.machine_id},
                   payload={"good_qty": delta.good, "scrap_qty": delta.scrap, "order_good_qty": delta.order_good,
                            "order_scrap_qty": delta.order_scrap},
                   subject_kind="machine", subject_id=delta.machine_id, occurred_at=delta.at,
                   evidence_ids=delta.evidence_ids[:20])


def exception_record(movement: Movement, location_id: str, on_hand: Decimal, reason: str) -> ErpRecord:
    """A stock exception: ``movement`` took ``location_id`` below zero (applied, flagged)."""
    return _record(event_id=stable_id("erp_record", "stock_exception", movement.id, location_id),
                   record_type="inventory.stock_exception", record_key=f"{movement.material_id}@{location_id}",
                   erp_keys={"material": movement.material_id, "location": location_id},
                   payload={"movement_id": movement.id, "movement_type": movement.movement_type,
                            "quantity": str(movement.quantity), "on_hand": str(on_hand), "reason": reason},
                   subject_kind="material_location", subject_id=f"{movement.material_id}@{location_id}",
                   occurred_at=movement.occurred_at, evidence_ids=(movement.id,))


def proposal_record(movement: Movement, location_id: str, quantity: float, on_hand: Decimal, reorder_point: float,
                    policy: StockPolicy) -> ErpRecord:
    """A reorder proposal: ``movement`` took the stock at ``location_id`` below its reorder point."""
    return _record(event_id=stable_id("erp_record", "reorder_proposal", movement.id, location_id),
                   record_type="inventory.reorder_proposal", record_key=f"{movement.material_id}@{location_id}",
                   erp_keys={"material": movement.material_id, "location": location_id},
                   payload={"quantity": quantity, "on_hand": str(on_hand), "reorder_point": reorder_point,
                            "safety_stock": policy.safety_stock, "max_stock": policy.max_stock,
                            "order_multiple": policy.order_multiple, "lead_time_h": policy.lead_time_h},
                   subject_kind="material_location", subject_id=f"{movement.material_id}@{location_id}",
                   occurred_at=movement.occurred_at, evidence_ids=(movement.id,))
