"""The ground-truth scorecard: the pipelines' decisions against what really happened, in event time.

Pure: :func:`compute` takes the simulators' facts (:class:`TruthFact`, as stored in ``ground_truth``) and the
pipelines' decisions (alerts, maintenance scores, stock exceptions, production receipts, shipments with their
milestones and ETAs) and returns every figure as a :class:`Figure` — a value and the number of samples it
stands on. A figure without data is ``None``, never a made-up number.

Maintenance (per machine, a failure's *degradation span* is ``[onset, failure)``, its downtime
``[failure, repaired)``):

- ``failures_alerted_share``: failures with a maintenance alert opened in their degradation span / failures;
- ``lead_share_median`` / ``lead_hours_median``: ``(failure - first such alert)`` as a share of the span / in
  hours, median over alerted failures;
- ``false_alerts_per_machine_week``: alerts opened neither in a degradation span nor in a downtime, per week
  of observation of each machine (its first fact to ``now``); alerts opened in a downtime are ``late_alerts``;
  alerts opened while a degradation is under way whose failure has not come yet are ``pending_alerts``;
- ``rul_mae_hours``: |score's RUL - true time to the next failure| over scores (RUL in hours, outside a
  downtime) with a next failure; ``rul_mae_hours_degrading`` the same over scores inside a degradation span;
- ``brier``: mean ``(p_fail - y)^2`` with ``y`` = the machine failed within the score's horizon (scores whose
  horizon reaches past ``now`` without a failure are censored, left out); ``reliability`` by decile of p_fail.

Inventory:

- ``stock_exceptions``: every exception; ``with_physical_cause`` those with a missed RFID read (a ``tag_pass``
  fact with ``missed``) of the same material at the same location before it, ``without_physical_cause`` the
  rest (both ``None`` when there is no gate fact at all);
- production per order: good parts really made (``part_made`` facts without scrap) vs production receipts
  confirmed (``production_receipt`` movements, reference = order), both up to ``now - settle``;
- ``ledger_vs_physical``: the ledger's stock per material x location (its movements up to an instant) against
  the physical stock at the same instant (:func:`physical_stock`: the opening stock, each part made — it
  consumed its BOM with the scrap factor at its machine's line side, a good one went to the site's warehouse
  for it — and each tag pass, read or not), exact to the gram; the instant is ``now - settle``, moved back
  out of any gate pass under way (a pass's reads, and so its movement, follow its goods by seconds).

Logistics (a trip is a truck's ``departure`` .. ``arrival`` facts of one shipment and day; the pipeline's
shipment is the trip whose promised end matches the shipment's ``promised_to``, else day 0):

- milestone errors: ``departed`` vs the departure, ``arrived`` vs the arrival (mean absolute and mean signed
  seconds, positive = the pipeline later than the truth);
- ETA error at 25/50/75 % of each trip's duration: |newest ETA at that instant - actual arrival| in minutes,
  and the same for the naive ETA stored beside it;
- delay alerts: precision and recall of ``shipment.delay`` alerts opened up to the arrival against the trip
  arriving later than its promised window plus the delay rule's tolerance (``logistics.delay_tolerance_min``,
  ``delay_tolerance``: a truck 5 minutes late is on time by the rule the dispatcher set); ``late_trips_any``
  counts every trip that arrived after its window at all;
- ``eta_age_s``: ``now`` minus the newest ETA's time, for shipments on the road (median and max).
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from millstream.inventory.catalog import Catalog
from millstream.settings import InventorySettings

__all__ = [
    "AlertRow",
    "EtaRow",
    "ExceptionRow",
    "Figure",
    "Inputs",
    "MilestoneRow",
    "ProductionRow",
    "ScoreRow",
    "ShipmentRow",
    "StockRow",
    "TruthFact",
    "compute",
    "physical_stock",
    "quiet_instant",
    "settle_for",
]

DELAY_ALERT = "shipment.delay"
TRIP_FRACTIONS = (0.25, 0.5, 0.75)
_ON_THE_ROAD = ("departed", "in_transit")
_WEEK_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class TruthFact:
    time: datetime
    kind: str
    subject: str
    details: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class AlertRow:
    alert_type: str
    domain: str
    subject_kind: str
    subject_id: str
    opened_at: datetime
    id: str = ""


@dataclass(frozen=True)
class ScoreRow:
    machine_id: str
    at: datetime
    rul: float
    p_fail: float
    horizon: float
    rul_unit: str = "hours"


@dataclass(frozen=True)
class ExceptionRow:
    material_id: str
    location_id: str
    occurred_at: datetime
    kind: str = ""
    movement_id: str = ""


@dataclass(frozen=True)
class ProductionRow:
    """A production receipt: ``quantity`` good parts of ``order_id`` confirmed at ``occurred_at``."""

    order_id: str
    occurred_at: datetime
    quantity: float


@dataclass(frozen=True)
class ShipmentRow:
    shipment_id: str
    promised_to: datetime
    status: str | None = None


@dataclass(frozen=True)
class MilestoneRow:
    shipment_id: str
    milestone: str
    at: datetime


@dataclass(frozen=True)
class EtaRow:
    shipment_id: str
    computed_at: datetime
    eta: datetime
    naive_eta: datetime | None = None


@dataclass(frozen=True)
class StockRow:
    """The ledger's stock of ``material_id`` at ``location_id`` (sum of its movements up to an instant)."""

    material_id: str
    location_id: str
    quantity: Decimal


@dataclass
class Inputs:
    now: datetime
    facts: Sequence[TruthFact] = ()
    alerts: Sequence[AlertRow] = ()
    scores: Sequence[ScoreRow] = ()
    exceptions: Sequence[ExceptionRow] = ()
    production: Sequence[ProductionRow] = ()
    shipments: Sequence[ShipmentRow] = ()
    milestones: Sequence[MilestoneRow] = ()
    etas: Sequence[EtaRow] = ()
    #: parts made / receipts confirmed in the last ``settle`` before ``now`` are not compared (still in flight)
    settle: timedelta = timedelta(minutes=2)
    #: the master data the physical stock needs (opening stock, BOMs, warehouses); ``None``: not compared
    catalog: Catalog | None = None
    #: the ledger's stock at ``stock_at`` (see :func:`quiet_instant`)
    ledger: Sequence[StockRow] = ()
    stock_at: datetime | None = None
    #: a trip is late for the delay alerts when it arrives more than this after its window
    delay_tolerance: timedelta = timedelta(minutes=15)


def settle_for(inventory: InventorySettings) -> timedelta:
    """The in-flight window of the production comparison: the inventory flow applies a material's movements in
    event-time order and may hold one up to ``order_wait_s`` of event time, plus two minutes of transport."""
    return timedelta(seconds=inventory.order_wait_s) + timedelta(minutes=2)


@dataclass(frozen=True)
class Figure:
    """A figure and the number of samples it stands on (``value`` is ``None`` without samples)."""

    value: float | None
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "n": self.n}


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(x, digits)


def _mean(xs: Sequence[float], digits: int = 4) -> Figure:
    return Figure(_round(statistics.fmean(xs), digits) if xs else None, len(xs))


def _median(xs: Sequence[float], digits: int = 4) -> Figure:
    return Figure(_round(statistics.median(xs), digits) if xs else None, len(xs))


def _share(part: int, whole: int) -> Figure:
    return Figure(round(part / whole, 4) if whole else None, whole)


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600.0


# --- maintenance -------------------------------------------------------------------------------------------


@dataclass
class _Episode:
    failure: datetime
    onset: datetime | None  # the degradation onset before the failure (None if not recorded)
    repaired: datetime | None  # None while still down


def _episodes(facts: Sequence[TruthFact]) -> tuple[list[_Episode], datetime | None]:
    """One machine's failures (time-ordered facts) with their onset and repair, and the onset of a degradation
    still under way (no failure yet)."""
    episodes: list[_Episode] = []
    onset: datetime | None = None
    for f in facts:
        if f.kind == "degradation_onset":
            onset = f.time
        elif f.kind == "failure":
            episodes.append(_Episode(f.time, onset, None))
            onset = None
        elif f.kind == "repaired" and episodes and episodes[-1].repaired is None:
            episodes[-1].repaired = f.time
            onset = None
    return episodes, onset


def _maintenance(inp: Inputs, by_subject: Mapping[str, list[TruthFact]]) -> dict[str, Any]:
    plant = {s: fs for s, fs in by_subject.items() if any(f.source == "plant" or f.kind in _PLANT_KINDS for f in fs)}
    traced = {m: _episodes(fs) for m, fs in plant.items()}
    episodes = {m: es for m, (es, _) in traced.items()}
    degrading_since = {m: onset for m, (_, onset) in traced.items() if onset is not None}
    failures = [(m, e) for m, es in episodes.items() for e in es]
    opened: dict[str, list[datetime]] = defaultdict(list)
    for a in inp.alerts:
        if a.domain == "maintenance" and a.subject_kind == "machine":
            opened[a.subject_id].append(a.opened_at)
    detected, lead_shares, lead_hours = 0, [], []
    false_alerts = late_alerts = pending_alerts = 0
    for m, times in opened.items():
        es = episodes.get(m, [])
        for t in times:
            if any(e.onset is not None and e.onset <= t < e.failure for e in es):
                continue
            if m in degrading_since and degrading_since[m] <= t:
                pending_alerts += 1  # the machine is degrading and has not failed yet: not false, not yet true
                continue
            if any(e.failure <= t < (e.repaired or inp.now) for e in es):
                late_alerts += 1
            else:
                false_alerts += 1
    for m, e in failures:
        if e.onset is None:
            continue
        true_opens = sorted(t for t in opened.get(m, []) if e.onset <= t < e.failure)
        if true_opens:
            detected += 1
            lead = e.failure - true_opens[0]
            lead_hours.append(_hours(lead))
            span = (e.failure - e.onset).total_seconds()
            lead_shares.append(lead.total_seconds() / span if span > 0 else 0.0)
    with_onset = sum(1 for _, e in failures if e.onset is not None)
    weeks = sum(max(0.0, (inp.now - fs[0].time).total_seconds()) for fs in plant.values()) / _WEEK_S
    rul_errors, rul_errors_degrading, brier, reliability = _scores(inp, episodes)
    return {
        "failures": len(failures),
        "failures_alerted_share": _share(detected, with_onset).as_dict(),
        "lead_share_median": _median(lead_shares).as_dict(),
        "lead_hours_median": _median(lead_hours, 3).as_dict(),
        "false_alerts": false_alerts,
        "pending_alerts": pending_alerts,
        "late_alerts": late_alerts,
        "machine_weeks": round(weeks, 4),
        "false_alerts_per_machine_week": Figure(round(false_alerts / weeks, 4) if weeks > 0 else None,
                                                false_alerts).as_dict(),
        "rul_mae_hours": _mean(rul_errors, 3).as_dict(),
        "rul_mae_hours_degrading": _mean(rul_errors_degrading, 3).as_dict(),
        "brier": _mean(brier).as_dict(),
        "reliability": reliability,
    }


_PLANT_KINDS = {"degradation_onset", "failure", "repair_started", "repaired", "part_made", "order_started",
                "order_completed", "counter_reset"}


def _scores(inp: Inputs, episodes: Mapping[str, list[_Episode]]
            ) -> tuple[list[float], list[float], list[float], list[dict[str, Any]]]:
    rul_errors: list[float] = []
    rul_degrading: list[float] = []
    brier: list[float] = []
    bins: list[list[tuple[float, int]]] = [[] for _ in range(10)]
    for s in inp.scores:
        if s.rul_unit != "hours":
            continue
        es = episodes.get(s.machine_id, [])
        if any(e.failure <= s.at < (e.repaired or inp.now) for e in es):
            continue  # down: not a prediction of anything
        nxt = next((e for e in es if e.failure > s.at), None)
        if nxt is not None:
            ttf = _hours(nxt.failure - s.at)
            rul_errors.append(abs(s.rul - ttf))
            if nxt.onset is not None and nxt.onset <= s.at:
                rul_degrading.append(abs(s.rul - ttf))
        horizon_end = s.at + timedelta(hours=s.horizon)
        if nxt is not None and nxt.failure <= horizon_end:
            y = 1
        elif horizon_end <= inp.now:
            y = 0
        else:
            continue  # censored: the horizon is not over yet
        brier.append((s.p_fail - y) ** 2)
        bins[min(9, int(s.p_fail * 10))].append((s.p_fail, y))
    reliability = [{"bin": i, "p_low": i / 10, "p_high": (i + 1) / 10,
                    "mean_p": _round(statistics.fmean(p for p, _ in b)) if b else None,
                    "observed": _round(statistics.fmean(y for _, y in b)) if b else None, "n": len(b)}
                   for i, b in enumerate(bins)]
    return rul_errors, rul_degrading, brier, reliability


# --- inventory ---------------------------------------------------------------------------------------------


_GRAM = Decimal("0.001")
#: A gate pass's reads follow its goods by up to the pass duration (a few seconds).
_PASS_S = 6.0


def quiet_instant(facts: Iterable[TruthFact], at: datetime) -> datetime:
    """``at``, or the latest instant before it at which no gate pass is under way (its goods moved, its reads
    not all in yet), in steps of 7 s."""
    passes = sorted(f.time for f in facts if f.kind == "tag_pass" and f.time <= at)
    while True:
        i = bisect.bisect_right(passes, at)
        if i == 0 or (at - passes[i - 1]).total_seconds() > _PASS_S:
            return at
        at -= timedelta(seconds=7)


def physical_stock(facts: Iterable[TruthFact], catalog: Catalog, at: datetime) -> dict[tuple[str, str], Decimal]:
    """The physical stock per (material, location) at ``at`` from the simulators' facts and the master data
    alone (see the module docstring); cells at zero are left out."""
    stock: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    scenario = catalog.scenario
    for level in scenario.initial_stock:
        stock[(level.material_id, level.location_id)] += Decimal(str(level.quantity))
    for fact in facts:
        if fact.time > at:
            continue
        d = fact.details
        if fact.kind == "part_made" and d.get("product_id") and d.get("location_id"):
            bom = catalog.boms.get(d["product_id"])
            for line in bom.components if bom else ():
                per_part = Decimal(str(line.quantity)) * (1 + Decimal(str(line.scrap_factor)))
                stock[(line.material_id, d["location_id"])] -= per_part.quantize(_GRAM)
            if not d.get("scrap"):
                site = catalog.locations[d["location_id"]].site_id if d["location_id"] in catalog.locations else ""
                store = catalog.put_away(site, d["product_id"]) or d["location_id"]
                stock[(d["product_id"], store)] += 1
        elif fact.kind == "tag_pass" and d.get("material_id"):
            qty = Decimal(str(d.get("quantity") or 0))
            if d.get("from_location_id"):
                stock[(d["material_id"], d["from_location_id"])] -= qty
            if d.get("to_location_id"):
                stock[(d["material_id"], d["to_location_id"])] += qty
    return {k: v for k, v in stock.items() if v != 0}


def _ledger_vs_physical(inp: Inputs) -> dict[str, Any] | None:
    if inp.catalog is None or inp.stock_at is None:
        return None
    physical = physical_stock(inp.facts, inp.catalog, inp.stock_at)
    ledger = {(r.material_id, r.location_id): Decimal(r.quantity) for r in inp.ledger if r.quantity != 0}
    cells = sorted(set(physical) | set(ledger))
    wrong = [c for c in cells if ledger.get(c, Decimal(0)).quantize(_GRAM) != physical.get(c, Decimal(0))]
    return {
        "as_of": inp.stock_at.isoformat(),
        "cells": len(cells),
        "matching": len(cells) - len(wrong),
        "matching_share": _share(len(cells) - len(wrong), len(cells)).as_dict(),
        "mismatches": [{"material_id": m, "location_id": loc, "ledger": float(ledger.get((m, loc), 0)),
                        "physical": float(physical.get((m, loc), 0))} for m, loc in wrong[:20]],
        "mismatched": len(wrong),
    }


def _inventory(inp: Inputs) -> dict[str, Any]:
    passes = [f for f in inp.facts if f.kind == "tag_pass"]
    missed = [f for f in passes if f.details.get("missed")]
    with_cause: int | None = None
    if passes:
        with_cause = 0
        for ex in inp.exceptions:
            if any(f.details.get("material_id") == ex.material_id and f.time <= ex.occurred_at
                   and ex.location_id in (f.details.get("location_id"), f.details.get("to_location_id"),
                                          f.details.get("from_location_id")) for f in missed):
                with_cause += 1
    cutoff = inp.now - inp.settle
    made: dict[str, int] = defaultdict(int)
    for f in inp.facts:
        if f.kind == "part_made" and f.time <= cutoff and not f.details.get("scrap") and f.details.get("order_id"):
            made[str(f.details["order_id"])] += 1
    confirmed: dict[str, float] = defaultdict(float)
    for p in inp.production:
        if p.occurred_at <= cutoff:
            confirmed[p.order_id] += p.quantity
    orders = sorted(set(made) | set(confirmed))
    diffs = [confirmed.get(o, 0.0) - made.get(o, 0) for o in orders]
    stock = _ledger_vs_physical(inp)
    return {
        "stock_exceptions": len(inp.exceptions),
        "with_physical_cause": with_cause,
        "without_physical_cause": None if with_cause is None else len(inp.exceptions) - with_cause,
        "missed_reads": len(missed) if passes else None,
        "orders": len(orders),
        "parts_made": sum(made.values()),
        "parts_confirmed": round(sum(confirmed.values()), 3),
        "orders_matching_share": _share(sum(1 for d in diffs if abs(d) < 0.5), len(orders)).as_dict(),
        "production_mae_parts": _mean([abs(d) for d in diffs], 3).as_dict(),
        "per_order": [{"order_id": o, "made": made.get(o, 0), "confirmed": round(confirmed.get(o, 0.0), 3)}
                      for o in orders],
        "ledger_matching_share": (stock["matching_share"] if stock else _share(0, 0).as_dict()),
        "stock_cells_mismatched": stock["mismatched"] if stock else None,
        "ledger_vs_physical": stock,
    }


# --- logistics ---------------------------------------------------------------------------------------------


@dataclass
class _Trip:
    shipment_id: str
    day: Any
    departure: datetime | None = None
    arrival: datetime | None = None
    promised_to: datetime | None = None
    late_by: timedelta | None = None


def _parse(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            return None
        return t if t.tzinfo else t.replace(tzinfo=UTC)
    return None


def _trips(facts: Iterable[TruthFact]) -> dict[tuple[str, Any], _Trip]:
    trips: dict[tuple[str, Any], _Trip] = {}
    for f in facts:
        if f.kind not in ("departure", "arrival") or not f.details.get("shipment_id"):
            continue
        key = (str(f.details["shipment_id"]), f.details.get("day", 0))
        trip = trips.setdefault(key, _Trip(*key))
        if f.kind == "departure":
            trip.departure = f.time
        else:
            trip.arrival = f.time
            trip.promised_to = _parse(f.details.get("promised_to"))
            late_min = f.details.get("late_minutes")
            if trip.promised_to is not None:
                trip.late_by = f.time - trip.promised_to
            elif late_min is not None:
                trip.late_by = timedelta(minutes=float(late_min))
    return trips


def _matched(trips: Mapping[tuple[str, Any], _Trip], shipments: Sequence[ShipmentRow]) -> dict[str, _Trip]:
    """Each pipeline shipment's trip: the one whose promised end is the shipment's, else its day-0 trip."""
    out: dict[str, _Trip] = {}
    for sh in shipments:
        mine = [t for (sid, _), t in trips.items() if sid == sh.shipment_id]
        exact = [t for t in mine if t.promised_to is not None
                 and abs((t.promised_to - sh.promised_to).total_seconds()) < 1.0]
        trip = exact[0] if exact else next((t for t in mine if t.day in (0, None)), None)
        if trip is not None:
            out[sh.shipment_id] = trip
    return out


def _logistics(inp: Inputs) -> dict[str, Any]:
    trips = _matched(_trips(inp.facts), inp.shipments)
    milestones = {(m.shipment_id, m.milestone): m.at for m in inp.milestones}
    errors: dict[str, list[float]] = {"departed": [], "arrived": []}
    for sid, trip in trips.items():
        for milestone, truth in (("departed", trip.departure), ("arrived", trip.arrival)):
            seen = milestones.get((sid, milestone))
            if truth is not None and seen is not None:
                errors[milestone].append((seen - truth).total_seconds())
    etas: dict[str, list[EtaRow]] = defaultdict(list)
    for e in sorted(inp.etas, key=lambda e: e.computed_at):
        etas[e.shipment_id].append(e)
    at_progress: dict[str, dict[str, Any]] = {}
    for fraction in TRIP_FRACTIONS:
        model: list[float] = []
        naive: list[float] = []
        for sid, trip in trips.items():
            if trip.departure is None or trip.arrival is None:
                continue
            instant = trip.departure + (trip.arrival - trip.departure) * fraction
            rows = etas.get(sid, [])
            i = bisect.bisect_right([r.computed_at for r in rows], instant) - 1
            if i < 0 or rows[i].computed_at < trip.departure:
                continue
            row = rows[i]
            model.append(abs((row.eta - trip.arrival).total_seconds()) / 60.0)
            if row.naive_eta is not None:
                naive.append(abs((row.naive_eta - trip.arrival).total_seconds()) / 60.0)
        at_progress[f"{round(fraction * 100)}"] = {"eta_mae_min": _mean(model, 2).as_dict(),
                                                     "naive_mae_min": _mean(naive, 2).as_dict()}
    delay_opened: dict[str, list[datetime]] = defaultdict(list)
    for a in inp.alerts:
        if a.alert_type == DELAY_ALERT and a.subject_kind == "shipment":
            delay_opened[a.subject_id].append(a.opened_at)
    arrived = {sid: t for sid, t in trips.items() if t.arrival is not None and t.late_by is not None}
    alerted = {sid for sid, t in arrived.items()
               if t.arrival is not None and any(o <= t.arrival for o in delay_opened.get(sid, []))}
    late = {sid for sid, t in arrived.items() if t.late_by is not None and t.late_by > inp.delay_tolerance}
    late_any = {sid for sid, t in arrived.items() if t.late_by is not None and t.late_by > timedelta(0)}
    ages: list[float] = []
    without_eta = 0
    for sh in inp.shipments:
        if sh.status not in _ON_THE_ROAD:
            continue
        rows = [r for r in etas.get(sh.shipment_id, []) if r.computed_at <= inp.now]
        if rows:
            ages.append((inp.now - rows[-1].computed_at).total_seconds())
        else:
            without_eta += 1
    return {
        "trips": len(trips),
        "trips_arrived": len(arrived),
        "late_trips": len(late),
        "late_trips_any": len(late_any),
        "delay_tolerance_min": inp.delay_tolerance.total_seconds() / 60.0,
        "milestone_error_s": {m: {"mae": _mean([abs(x) for x in xs], 1).as_dict(), "bias": _mean(xs, 1).as_dict()}
                              for m, xs in errors.items()},
        "eta_error_by_progress": at_progress,
        "delay_alert_precision": _share(len(alerted & late), len(alerted)).as_dict(),
        "delay_alert_recall": _share(len(alerted & late), len(late)).as_dict(),
        "eta_age_s": {"median": _median(ages, 1).as_dict(),
                      "max": Figure(round(max(ages), 1) if ages else None, len(ages)).as_dict(),
                      "on_the_road_without_eta": without_eta},
    }


def compute(inp: Inputs) -> dict[str, Any]:
    """The scorecard (see the module docstring) as plain JSON-able data."""
    facts = sorted(inp.facts, key=lambda f: f.time)
    by_subject: dict[str, list[TruthFact]] = defaultdict(list)
    for f in facts:
        by_subject[f.subject].append(f)
    inp = replace(inp, facts=facts)
    return {
        "as_of": inp.now.isoformat(),
        "facts": len(facts),
        "maintenance": _maintenance(inp, by_subject),
        "inventory": _inventory(inp),
        "logistics": _logistics(inp),
    }
