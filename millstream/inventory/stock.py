"""Stock per material x location as the movements stream past, demand statistics and the reorder rules.

:class:`MaterialStock` is the state of one material (all its locations), fed the material's movements in
order; it returns a :class:`StockSample` per location a movement touched. From a sample and the location's
:class:`~millstream.masterdata.StockPolicy`:

- **dynamic safety stock** = ``z * sigma(hourly demand) * sqrt(lead time h)`` over the last
  ``DEMAND_HOURS`` hours of event time (demand: what left the location: backflush, issues, transfers out);
- **effective safety stock** = max(master-data safety stock, dynamic); **effective reorder point** =
  max(master-data reorder point, mean hourly demand x lead time + effective safety stock);
- the ``reorder_point`` condition is ``(reorder point - stock) / reorder point``: above 0 raises the alert,
  below ``-REORDER_HYSTERESIS`` (stock 10 % above the reorder point, i.e. after a receipt) clears it;
- the ``negative_stock`` condition is ``-stock``: above 0 raises, back to above zero clears;
- a reorder proposal fills up to the maximum in whole order multiples.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from millstream.inventory.movements import Movement
from millstream.masterdata import StockPolicy

__all__ = ["DEMAND_HOURS", "REORDER_HYSTERESIS", "MaterialStock", "ReorderLevels", "StockSample", "proposal_quantity",
           "reorder_levels"]

DEMAND_HOURS = 24
REORDER_HYSTERESIS = 0.1


@dataclass(frozen=True)
class StockSample:
    material_id: str
    location_id: str
    on_hand: Decimal
    at: datetime
    movement_id: str
    hourly_demand: tuple[float, ...]  # the last complete hours, oldest first


@dataclass
class MaterialStock:
    """One material's stock per location and its hourly outflow per location (event-time buckets)."""

    on_hand: dict[str, Decimal] = field(default_factory=dict)
    demand: dict[str, dict[int, Decimal]] = field(default_factory=dict)
    clock: datetime | None = None

    def copy(self) -> MaterialStock:
        """A copy for a snapshot (quantities and times are immutable)."""
        return MaterialStock(dict(self.on_hand), {loc: dict(b) for loc, b in self.demand.items()}, self.clock)

    def apply(self, movement: Movement) -> list[StockSample]:
        """Book ``movement``; samples are stamped with the latest event time seen for the material, so the
        alert lifecycle follows the stock in the order the ledger applies it (streams interleave)."""
        self.clock = movement.occurred_at if self.clock is None else max(self.clock, movement.occurred_at)
        hour = int(movement.occurred_at.timestamp() // 3600)
        touched = []
        if movement.from_location_id is not None:
            loc = movement.from_location_id
            self.on_hand[loc] = self.on_hand.get(loc, Decimal(0)) - movement.quantity
            buckets = self.demand.setdefault(loc, {})
            buckets[hour] = buckets.get(hour, Decimal(0)) + movement.quantity
            for old in [h for h in buckets if h < hour - DEMAND_HOURS]:
                del buckets[old]
            touched.append(loc)
        if movement.to_location_id is not None:
            loc = movement.to_location_id
            self.on_hand[loc] = self.on_hand.get(loc, Decimal(0)) + movement.quantity
            touched.append(loc)
        return [StockSample(movement.material_id, loc, self.on_hand[loc], self.clock, movement.id,
                            self._hourly(loc, hour)) for loc in touched]

    def _hourly(self, location_id: str, hour: int) -> tuple[float, ...]:
        buckets = self.demand.get(location_id, {})
        if not buckets:
            return ()
        first = max(min(buckets), hour - DEMAND_HOURS)
        return tuple(float(buckets.get(h, 0)) for h in range(first, hour))


@dataclass(frozen=True)
class ReorderLevels:
    safety_stock: float
    dynamic_safety_stock: float
    reorder_point: float
    mean_hourly_demand: float
    run_out_at: datetime | None


def reorder_levels(sample: StockSample, policy: StockPolicy) -> ReorderLevels:
    """Effective safety stock and reorder point of ``sample``'s location, and when it would run out."""
    demand = sample.hourly_demand
    mean = statistics.fmean(demand) if demand else 0.0
    sigma = statistics.pstdev(demand) if len(demand) > 1 else 0.0
    dynamic = policy.service_z * sigma * math.sqrt(policy.lead_time_h)
    safety = max(policy.safety_stock, dynamic)
    reorder_point = max(policy.reorder_point, mean * policy.lead_time_h + safety)
    on_hand = float(sample.on_hand)
    run_out = sample.at + timedelta(hours=on_hand / mean) if mean > 0 and on_hand > 0 else None
    return ReorderLevels(safety, dynamic, reorder_point, mean, run_out)


def proposal_quantity(on_hand: float, policy: StockPolicy) -> float:
    """What to order so stock reaches at most ``max_stock``, in whole order multiples (at least one)."""
    multiples = math.floor((policy.max_stock - on_hand) / policy.order_multiple)
    return max(multiples, 1) * policy.order_multiple
