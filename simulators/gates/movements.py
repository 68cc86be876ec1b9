"""What passes which RFID gate when: the tagged goods movements the scenario implies.

* **inbound** — each receipt's pallet (SSCC-96 of its SSCC) through its dock door around ``expected_at``;
* **outbound** — each shipment's items as cases (SGTIN-96 of the material's GTIN, one tag per
  ``epc_mappings`` quantity) through the origin site's outbound dock door while the truck is loaded
  (the fleet simulator's loading window for the same seed);
* **line_side** — each production order's BOM components, as cases, through the line-side gate of the
  machine's location shortly before the order is planned to start (nominal cycle times).

Gate readers are named ``RDR-<location id>``; a gate's neighbour (source of stray reads) is the next gate of
the same kind at the same site.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from millstream.epc import encode_sgtin96, encode_sscc96
from millstream.masterdata import Location, Scenario, reader_id
from simulators.config import FleetParameters, GateParameters
from simulators.fleet.trip import plan_trip

__all__ = ["TagPass", "neighbours", "reader_id", "tag_passes"]


@dataclass(frozen=True)
class TagPass:
    """One tagged pallet or case passing the gate at ``location_id`` at ``at``."""

    at: datetime
    location_id: str
    epc: str
    movement: str  # inbound | outbound | line_side
    reference: str  # receipt, shipment or production order id
    material_id: str
    quantity: float
    code: str  # the SSCC-18 or GTIN-14 in the tag


def neighbours(scenario: Scenario) -> dict[str, str]:
    """Each gate location -> the gate next to it (same site, same kind), when there is one."""
    groups: dict[tuple[str, str], list[Location]] = defaultdict(list)
    for loc in scenario.locations:
        if loc.kind in {"dock_door", "line_side"}:
            groups[(loc.site_id, loc.kind)].append(loc)
    result = {}
    for locs in groups.values():
        for i, loc in enumerate(locs):
            if len(locs) > 1:
                result[loc.id] = locs[(i + 1) % len(locs)].id if i + 1 < len(locs) else locs[i - 1].id
    return result


class _Serials:
    """Case serial numbers, unique per GTIN for the whole run."""

    def __init__(self) -> None:
        self._next: dict[str, int] = defaultdict(lambda: 1)

    def take(self, gtin: str) -> int:
        serial = self._next[gtin]
        self._next[gtin] += 1
        return serial


def _case_passes(scenario: Scenario, params: GateParameters, serials: _Serials, at: datetime, span: timedelta,
                 location_id: str, movement: str, reference: str, material_id: str, quantity: float,
                 rng: random.Random) -> list[TagPass]:
    materials = {m.id: m for m in scenario.materials}
    gtin = materials[material_id].gtin
    if gtin is None:
        return []
    per_tag = next((m.quantity for m in scenario.epc_mappings if m.scheme == "sgtin" and m.code == gtin), 1.0)
    cases = math.ceil(quantity / per_tag)
    groups = math.ceil(cases / params.loading_group)
    passes = []
    for k in range(cases):
        group = k // params.loading_group
        when = at + span * (group / max(groups, 1)) + timedelta(seconds=rng.uniform(0, 2))
        epc = encode_sgtin96(gtin, serials.take(gtin), params.company_prefix_length, 2)
        qty = min(per_tag, quantity - k * per_tag)
        passes.append(TagPass(when, location_id, epc, movement, reference, material_id, qty, gtin))
    return passes


def tag_passes(scenario: Scenario, seed: int, params: GateParameters, fleet: FleetParameters) -> list[TagPass]:
    """Every tag pass of the (rebased) scenario in time order."""
    rng = random.Random(f"{seed}:gates:movements")
    serials = _Serials()
    passes: list[TagPass] = []
    for receipt in scenario.receipts:
        at = receipt.expected_at + timedelta(minutes=rng.uniform(0, 25))
        epc = encode_sscc96(receipt.sscc, params.company_prefix_length, 6)
        passes.append(TagPass(at, receipt.location_id, epc, "inbound", receipt.id, receipt.material_id,
                              receipt.quantity, receipt.sscc))
    outbound: dict[str, str] = {}
    for loc in scenario.locations:
        if loc.kind == "dock_door" and loc.direction in {"outbound", "both"}:
            outbound.setdefault(loc.site_id, loc.id)
    for shipment in scenario.shipments:
        door = outbound.get(shipment.origin_site_id)
        if door is None:
            continue
        plan = plan_trip(shipment, seed, fleet)
        span = plan.departure - plan.loading_from
        for item in shipment.items:
            passes += _case_passes(scenario, params, serials, plan.loading_from, span * 0.8, door, "outbound",
                                   shipment.id, item.material_id, item.quantity, rng)
    machines = {m.id: m for m in scenario.machines}
    boms = {b.product_id: b for b in scenario.boms}
    locations = {loc.id: loc for loc in scenario.locations}
    start = scenario.epoch or min((p.at for p in passes), default=None)
    offsets: dict[str, float] = defaultdict(float)
    orders = sorted((o for o in scenario.production_orders if o.status in {"released", "in_progress"}),
                    key=lambda o: (o.machine_id, o.sequence, o.id))
    for order in orders:
        machine = machines[order.machine_id]
        begins = offsets[machine.id]
        offsets[machine.id] += order.planned_qty * machine.cycle_time_s
        bom = boms.get(order.product_id)
        if bom is None or start is None or locations[machine.location_id].kind != "line_side":
            continue
        at = start + timedelta(seconds=max(begins - 900.0, 0.0) + rng.uniform(60, 300))
        for line in bom.components:
            passes += _case_passes(scenario, params, serials, at, timedelta(minutes=5), machine.location_id,
                                   "line_side", order.id, line.material_id, line.quantity * order.planned_qty, rng)
    passes.sort(key=lambda p: (p.at, p.epc))
    return passes
