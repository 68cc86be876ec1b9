"""Stock movements: what the ledger applies, each with a stable id derived from its source.

Quantities are :class:`~decimal.Decimal` rounded to 0.001 of the material's unit (``numeric(18, 3)`` in the
ledger), so sums are exact. A movement takes from ``from_location_id`` and/or puts into ``to_location_id``:

=====================  ==========================  ==============================
movement_type          from                        to
=====================  ==========================  ==============================
``opening``            —                           location (lot ``OPENING``)
``goods_receipt``      — (inbound dock gate)       put-away warehouse (lot: SSCC)
``production_receipt`` — (good parts of an order)  put-away warehouse (lot: order)
``transfer``           warehouse                   line side (the lots move FIFO)
``backflush``          machine's line side         — (consumed by an order)
``goods_issue``        warehouse                   — (left on a shipment)
=====================  ==========================  ==============================
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from millstream.events.base import Event, UtcDatetime
from millstream.masterdata import Scenario

__all__ = ["OPENING_TIME", "QUANTUM", "Movement", "MovementType", "opening_movements", "quantity"]

MovementType = Literal["opening", "goods_receipt", "production_receipt", "transfer", "backflush", "goods_issue"]

#: Ledger resolution: 0.001 of the unit of measure.
QUANTUM = Decimal("0.001")

Text = Annotated[str, Field(min_length=1, max_length=200)]


def quantity(value: float | int | str | Decimal) -> Decimal:
    """``value`` as an exact ledger quantity (floats go through their shortest repr: 1.8 -> 1.800)."""
    return Decimal(str(value)).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


class Movement(Event):
    """One stock movement of ``quantity`` of a material; ``source_id`` is what caused it (gate pass,
    production delta, master data), so a replay yields the same ``event_id``."""

    kind: ClassVar[str] = "stock_movement"

    movement_type: MovementType
    material_id: Text
    quantity: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=3)]
    from_location_id: Text | None = None
    to_location_id: Text | None = None
    lot: Text | None = None
    occurred_at: UtcDatetime
    source_id: Text
    reference: Text | None = None
    machine_id: Text | None = None
    epc: Text | None = None
    evidence_ids: tuple[str, ...] = ()

    def identity(self) -> tuple[object, ...]:
        return (self.movement_type, self.source_id, self.material_id, self.from_location_id, self.to_location_id)

    @model_validator(mode="after")
    def _ends(self) -> Movement:
        takes = self.movement_type in {"transfer", "backflush", "goods_issue"}
        puts = self.movement_type in {"opening", "goods_receipt", "production_receipt", "transfer"}
        if takes != (self.from_location_id is not None) or puts != (self.to_location_id is not None):
            msg = f"a {self.movement_type} movement needs {'from' if takes else 'no from'} and "
            msg += f"{'to' if puts else 'no to'} location"
            raise ValueError(msg)
        return self

    @property
    def locations(self) -> tuple[str, ...]:
        return tuple(loc for loc in (self.from_location_id, self.to_location_id) if loc is not None)


#: When opening stock applies if the scenario names no epoch.
OPENING_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def opening_movements(scenario: Scenario) -> list[Movement]:
    """The master data's opening stock as ``opening`` movements (lot ``OPENING``) at the scenario's epoch."""
    at = scenario.epoch or OPENING_TIME
    return [Movement(movement_type="opening", material_id=s.material_id, quantity=quantity(s.quantity),
                     to_location_id=s.location_id, lot="OPENING", occurred_at=at,
                     source_id=f"opening:{scenario.name}:{s.material_id}@{s.location_id}")
            for s in scenario.initial_stock if s.quantity > 0]
