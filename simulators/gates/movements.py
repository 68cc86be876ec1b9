"""What passes which RFID gate when: the tagged goods movements the scenario implies.

* **inbound** — each receipt's pallet (SSCC-96 of its SSCC) through its dock door around ``expected_at``
  (a receipt expected before the run begins arrives when it begins), into the site's warehouse for it;
* **outbound** — each shipment's items as cases (SGTIN-96 of the material's GTIN, one tag per
  ``epc_mappings`` quantity) from the origin site's warehouse through its outbound dock door while the truck
  is loaded (the fleet simulator's loading window for the same seed, from the run's start on; a truck that
  left before the run began is not loaded in it);
* **line_side** — each production order's BOM components, as cases, from the site's warehouse through the
  line-side gate of the machine's location at least a few minutes before the order can start (the plant's
  fastest cycle times, counted from the run's start, when the plant starts): the BOM quantity with its scrap
  factor for the planned good parts, plus ``line_side_allowance`` for the parts that will be scrapped, in
  whole cases.

Nothing passes a gate before the run begins (``simulation.start``, else the epoch): the opening stock is the
stock at that instant. Every pass says where the goods physically were and went (``from_location_id``,
``to_location_id``; ``None``: a truck). Gate readers are named ``RDR-<location id>``; a gate's neighbour
(source of stray reads) is the next gate of the same kind at the same site.

Injected on purpose (``simulation.gates.inject``): ``mis_scanned_pallet`` — the cases of one line-side
delivery pass their gate unread (the goods move all the same) and are re-scanned at the same gate
``rescan_after_min`` later (default: four hours, at the end of the shift). It is the delivery that brings more
than its line side has left of the material once all orders are done, by the widest margin (in the demo 69
housings or 138 shafts for LIV-LINE-B), so a ledger that misses it runs short: a stock exception, until the
re-scan brings the ledger back to the physical stock.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from millstream.epc import encode_sgtin96, encode_sscc96
from millstream.masterdata import Location, Scenario, reader_id
from simulators.config import FleetParameters, GateParameters, simulation_config
from simulators.fleet.trip import plan_trip

__all__ = ["TagPass", "neighbours", "put_away", "reader_id", "run_start", "tag_passes"]

#: The plant's cycle times vary by +-5 %: an order starts at the earliest after this share of the nominal time
#: of the orders before it on its machine.
_FASTEST_CYCLE = 0.95
#: A line-side delivery is due this long before its order can start.
_LINE_SIDE_LEAD = timedelta(minutes=15)


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
    from_location_id: str | None = None  # where the goods were (None: on a truck)
    to_location_id: str | None = None  # where they are after the pass (None: on a truck)
    rescan_at: datetime | None = None  # injected: passed unread, re-scanned at this instant


@dataclass(frozen=True)
class _Delivery:
    """The cases of one order's BOM component sent to its line side: ``need`` is the planned consumption."""

    at: datetime
    location_id: str
    material_id: str
    quantity: float
    need: float
    cases: list[TagPass]


def run_start(scenario: Scenario) -> datetime | None:
    """The instant the run begins and the plant starts: ``simulation.start`` (on the run's timeline), else the
    epoch."""
    return simulation_config(scenario).start or scenario.epoch


def put_away(scenario: Scenario, site_id: str, material_id: str) -> str | None:
    """The warehouse at ``site_id`` that keeps ``material_id``: the one whose ``stores`` lists its kind, else the
    first that stores any kind."""
    kind = next((m.kind for m in scenario.materials if m.id == material_id), None)
    houses = [loc for loc in scenario.locations if loc.site_id == site_id and loc.kind == "warehouse"]
    return (next((h.id for h in houses if kind in h.stores), None)
            or next((h.id for h in houses if not h.stores), None))


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


def _per_tag(scenario: Scenario, material_id: str) -> float | None:
    """What one case tag of ``material_id`` stands for (``None``: the material has no GTIN)."""
    gtin = next(m.gtin for m in scenario.materials if m.id == material_id)
    if gtin is None:
        return None
    return next((m.quantity for m in scenario.epc_mappings if m.scheme == "sgtin" and m.code == gtin), 1.0)


def _case_passes(scenario: Scenario, params: GateParameters, serials: _Serials, at: datetime, span: timedelta,
                 location_id: str, movement: str, reference: str, material_id: str, quantity: float,
                 rng: random.Random, moves: tuple[str | None, str | None]) -> list[TagPass]:
    materials = {m.id: m for m in scenario.materials}
    gtin = materials[material_id].gtin
    per_tag = _per_tag(scenario, material_id)
    if gtin is None or per_tag is None:
        return []
    cases = math.ceil(quantity / per_tag)
    groups = math.ceil(cases / params.loading_group)
    passes = []
    for k in range(cases):
        group = k // params.loading_group
        when = at + span * (group / max(groups, 1)) + timedelta(seconds=rng.uniform(0, 2))
        epc = encode_sgtin96(gtin, serials.take(gtin), params.company_prefix_length, 2)
        qty = min(per_tag, quantity - k * per_tag)
        passes.append(TagPass(when, location_id, epc, movement, reference, material_id, qty, gtin, *moves))
    return passes


def tag_passes(scenario: Scenario, seed: int, params: GateParameters, fleet: FleetParameters) -> list[TagPass]:
    """Every tag pass of the (rebased) scenario's run in time order."""
    rng = random.Random(f"{seed}:gates:movements")
    serials = _Serials()
    passes: list[TagPass] = []
    start = run_start(scenario)
    sites = {loc.id: loc.site_id for loc in scenario.locations}
    for receipt in scenario.receipts:
        expected = receipt.expected_at if start is None else max(receipt.expected_at, start)
        at = expected + timedelta(minutes=rng.uniform(0, 25))
        epc = encode_sscc96(receipt.sscc, params.company_prefix_length, 6)
        store = put_away(scenario, sites[receipt.location_id], receipt.material_id)
        passes.append(TagPass(at, receipt.location_id, epc, "inbound", receipt.id, receipt.material_id,
                              receipt.quantity, receipt.sscc, None, store))
    outbound: dict[str, str] = {}
    for loc in scenario.locations:
        if loc.kind == "dock_door" and loc.direction in {"outbound", "both"}:
            outbound.setdefault(loc.site_id, loc.id)
    for shipment in scenario.shipments:
        door = outbound.get(shipment.origin_site_id)
        if door is None:
            continue
        plan = plan_trip(shipment, seed, fleet)
        loading = plan.loading_from if start is None else max(plan.loading_from, start)
        if plan.departure <= loading:
            continue  # the truck left before the run began: its goods were not in the opening stock
        span = plan.departure - loading
        for item in shipment.items:
            store = put_away(scenario, shipment.origin_site_id, item.material_id)
            passes += _case_passes(scenario, params, serials, loading, span * 0.8, door, "outbound",
                                   shipment.id, item.material_id, item.quantity, rng, (store, None))
    machines = {m.id: m for m in scenario.machines}
    boms = {b.product_id: b for b in scenario.boms}
    locations = {loc.id: loc for loc in scenario.locations}
    start = start or min((p.at for p in passes), default=None)
    offsets: dict[str, float] = defaultdict(float)
    orders = sorted((o for o in scenario.production_orders if o.status in {"released", "in_progress"}),
                    key=lambda o: (o.machine_id, o.sequence, o.id))
    deliveries: list[_Delivery] = []
    for order in orders:
        machine = machines[order.machine_id]
        begins = timedelta(seconds=offsets[machine.id])
        offsets[machine.id] += order.planned_qty * machine.cycle_time_s * _FASTEST_CYCLE
        bom = boms.get(order.product_id)
        if bom is None or start is None or locations[machine.location_id].kind != "line_side":
            continue
        at = start + max(begins - _LINE_SIDE_LEAD, timedelta(0)) + timedelta(seconds=rng.uniform(60, 300))
        for line in bom.components:
            per_tag = _per_tag(scenario, line.material_id) or 1.0
            need = line.quantity * (1 + line.scrap_factor) * order.planned_qty * (1 + params.line_side_allowance)
            quantity = math.ceil(need / per_tag - 1e-9) * per_tag  # whole cases
            store = put_away(scenario, machine.site_id, line.material_id)
            cases = _case_passes(scenario, params, serials, at, timedelta(minutes=5), machine.location_id,
                                 "line_side", order.id, line.material_id, quantity, rng,
                                 (store, machine.location_id))
            planned = line.quantity * (1 + line.scrap_factor) * order.planned_qty
            deliveries.append(_Delivery(at, machine.location_id, line.material_id, quantity, planned, cases))
            passes += cases
    if "mis_scanned_pallet" in params.inject:
        passes = _mis_scan(scenario, params, passes, deliveries)
    passes.sort(key=lambda p: (p.at, p.epc))
    return passes


def _mis_scan(scenario: Scenario, params: GateParameters, passes: list[TagPass],
              deliveries: list[_Delivery]) -> list[TagPass]:
    """``passes`` with the cases of one line-side delivery passing unread, re-scanned ``rescan_after_min`` later:
    the delivery that brings most more than its line side has left of the material once every order is done
    (opening stock + deliveries - the orders' planned need), so that the ledger, missing it, runs short."""
    left: dict[tuple[str, str], float] = defaultdict(float)
    for level in scenario.initial_stock:
        left[(level.material_id, level.location_id)] += level.quantity
    for d in deliveries:
        left[(d.material_id, d.location_id)] += d.quantity - d.need
    candidates = [(d.quantity - left[(d.material_id, d.location_id)], -d.at.timestamp(), n)
                  for n, d in enumerate(deliveries) if d.cases]
    if not candidates or max(candidates)[0] <= 0:
        return passes
    target = deliveries[max(candidates)[2]]
    later = timedelta(minutes=params.rescan_after_min)
    unread = {id(p) for p in target.cases}
    return [replace(p, rescan_at=p.at + later) if id(p) in unread else p for p in passes]
