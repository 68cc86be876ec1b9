"""The inventory alert rules: stock below the reorder point and stock below zero, per material and location,
as conditions of the shared alert lifecycle (:mod:`millstream.alert_lifecycle`)."""

from __future__ import annotations

from typing import Any

from millstream.alert_lifecycle import AlertRule, Condition
from millstream.inventory.catalog import Catalog
from millstream.inventory.stock import REORDER_HYSTERESIS, StockSample, reorder_levels

__all__ = ["NEGATIVE_STOCK_RULE", "REORDER_RULE", "stock_conditions"]

REORDER_RULE = AlertRule("reorder_point", "inventory", raise_above=0.0, clear_below=-REORDER_HYSTERESIS,
                         title="Stock below the reorder point")
NEGATIVE_STOCK_RULE = AlertRule("negative_stock", "inventory", raise_above=0.0, clear_below=0.0,
                                severities=((0.0, "critical"),), title="Stock below zero")


def stock_conditions(catalog: Catalog) -> Any:
    """Per stock sample: the negative-stock condition, and the reorder condition where a policy applies."""
    def conditions(sample: StockSample) -> list[tuple[str, Condition]]:
        subject = f"{sample.material_id}@{sample.location_id}"
        on_hand = float(sample.on_hand)
        out = [("negative", Condition("material_location", subject, -on_hand, sample.at,
                                      {"on_hand": on_hand}, (sample.movement_id,)))]
        policy = catalog.policies.get((sample.material_id, sample.location_id))
        if policy is not None:
            levels = reorder_levels(sample, policy)
            evidence = {"on_hand": on_hand, "reorder_point": levels.reorder_point,
                        "safety_stock": levels.safety_stock, "dynamic_safety_stock": levels.dynamic_safety_stock,
                        "max_stock": policy.max_stock, "order_multiple": policy.order_multiple,
                        "run_out_at": levels.run_out_at.isoformat() if levels.run_out_at else None}
            value = (levels.reorder_point - on_hand) / max(levels.reorder_point, 1.0)
            out.append(("reorder", Condition("material_location", subject, value, sample.at, evidence,
                                             (sample.movement_id,))))
        return out
    return conditions
