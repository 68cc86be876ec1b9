"""Part counters -> production: per-machine deltas that survive counter resets, rollovers and PLC restarts.

A machine's PLC publishes ``good_parts`` and ``scrap_parts`` (cumulative counters) and ``active_order``; all
tags of one PLC scan share a source timestamp. Many PLCs (PackML ``ProdProcessedCount`` /
``ProdDefectiveCount``, an MES job counter) also publish the active order's own counts, ``order_good_parts``
and ``order_scrap_parts``: they restart at 0 when an order starts. :class:`CounterTracker` takes one machine's
readings in order, groups them into scans (the order change of a scan applies before its counters) and
returns what was made since the previous scan, attributed to the active production order:

- the first value of a counter is its baseline. Nothing is known about what the cumulative counter counted
  before — but when the PLC publishes the active order's count of that kind, the order's parts counted so far
  that this tracker has not booked yet (the order count minus ``per_order``, so a restored state never books
  twice) are booked for the active order: at the baseline's scan, or with a later scan when the count arrives
  after it (a subscription's first values carry each tag's last-change time, in no particular order). The
  parts made before the first reading (the bridge subscribed after the machine had started) are not lost. An
  order count is used once per baseline, only if it is the order in force's (taken no earlier than the
  order) and no parts of its kind were booked after it was taken; an order started after the baseline
  drops it. A count above what the order can plausibly have made (its planned quantity plus ``slack``, good
  or scrap) is not booked: it becomes a :class:`CounterProblem` (``implausible_order_counter``). Without the
  order counts (older topics, other PLCs) the first value books nothing;
- a drop is a reset (the counter restarted at zero: the new value was made since) — unless wrapping round
  the counter's modulus (``2**32`` for UInt32) explains it with a plausible number of parts: a rollover;
  production is never negative;
- a jump of more parts than the machine can make in the elapsed time (twice its nominal rate, plus
  ``slack``) is not booked: it becomes a :class:`CounterProblem` and the new value the baseline;
- parts counted with no active order, or for an order that is unknown or not this machine's, become a
  :class:`CounterProblem` too. Readings with bad or uncertain quality are not counter values.

Once the parts before a baseline are booked (or refused), the order counts are not used: the cumulative
counters alone decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from millstream.events.base import stable_id
from millstream.events.telemetry import SensorReading
from millstream.masterdata import Machine, ProductionOrder

__all__ = ["COUNTER_TAGS", "CounterProblem", "CounterTracker", "ProductionDelta"]

#: The cumulative counters and the active order's counts of the same kind (good, scrap).
_ORDER_COUNTS = {"good_parts": "order_good_parts", "scrap_parts": "order_scrap_parts"}

#: The tags the tracker reads.
COUNTER_TAGS = frozenset({"good_parts", "scrap_parts", "active_order", *_ORDER_COUNTS.values()})


def _count(value: object) -> int | None:
    """A counter value as a non-negative int, or None when it is not one."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0 or value != int(value):
        return None
    return int(value)


@dataclass(frozen=True)
class ProductionDelta:
    """Parts made by ``machine_id`` for ``order_id`` between the previous scan and the one at ``at``."""

    machine_id: str
    order_id: str
    good: int
    scrap: int
    at: datetime
    order_good: int  # cumulative for the order, as this pipeline has counted it
    order_scrap: int
    evidence_ids: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return stable_id("production_delta", self.machine_id, self.at)


@dataclass(frozen=True)
class CounterProblem:
    """Counter input that could not be booked, with the reason (becomes a dead letter)."""

    machine_id: str
    at: datetime
    error_type: str
    reason: str
    readings: tuple[SensorReading, ...]


@dataclass
class CounterTracker:
    """One machine's counter state (snapshotted with the flow's recovery state)."""

    modulus: int = 2**32
    slack: int = 2
    good: int | None = None
    scrap: int | None = None
    counted_at: datetime | None = None
    order_id: str | None = None
    #: source time of the active_order value in force (a current value may carry an older timestamp)
    order_at: datetime | None = None
    scan_at: datetime | None = None
    scan: list[SensorReading] = field(default_factory=list)
    per_order: dict[str, list[int]] = field(default_factory=dict)
    #: the newest good values of ``order_good_parts`` / ``order_scrap_parts`` and their source times (plain
    #: defaults: a state snapshotted before these fields existed restores with them as None)
    order_good: int | None = None
    order_good_at: datetime | None = None
    order_scrap: int | None = None
    order_scrap_at: datetime | None = None
    #: per kind (good, scrap): the time of the counter's baseline while the parts before it are still to be
    #: booked from the order count, and the source time of the last parts booked of that kind since the baseline
    pending_good: datetime | None = None
    pending_scrap: datetime | None = None
    booked_good_at: datetime | None = None
    booked_scrap_at: datetime | None = None

    def push(self, reading: SensorReading, machine: Machine, orders: dict[str, ProductionOrder],
             ) -> list[ProductionDelta | CounterProblem]:
        """Add a reading; returns what the previous scan yielded once this reading starts a new one."""
        if self.scan_at is not None and reading.source_timestamp < self.scan_at:
            # Older than a scan already taken in: no counter value any more. But an OPC-UA subscription's first
            # values carry each tag's last-change time, so the order in force may arrive after a later counter.
            if reading.tag == "active_order" and reading.quality == "good" and (
                    self.order_at is None or reading.source_timestamp > self.order_at):
                self._take_order(reading.value, reading.source_timestamp)
            elif reading.tag in _ORDER_COUNTS.values() and reading.quality == "good":
                self._take_order_count(reading.tag, reading.value, reading.source_timestamp)
            return []
        out: list[ProductionDelta | CounterProblem] = []
        if self.scan_at is not None and reading.source_timestamp > self.scan_at:
            out = self.flush(machine, orders)
        self.scan_at = reading.source_timestamp
        self.scan.append(reading)
        return out

    def tick(self, at: datetime, machine: Machine, orders: dict[str, ProductionOrder],
             ) -> list[ProductionDelta | CounterProblem]:
        """A reading of another of the machine's tags (a sensor signal) at ``at``: the tags of one scan share its
        source timestamp, so a later one says the pending scan is complete — it is taken in now, not when the
        counters next change (a machine that failed right after a part would otherwise hold its last part back
        until it runs again, an hour or more)."""
        if self.scan and self.scan_at is not None and at > self.scan_at:
            return self.flush(machine, orders)
        return []

    def flush(self, machine: Machine, orders: dict[str, ProductionOrder]) -> list[ProductionDelta | CounterProblem]:
        """Take in the pending scan (at the end of input, when a later scan starts or a later reading of another
        tag of the machine comes, :meth:`tick`)."""
        scan, self.scan = self.scan, []
        if not scan:
            return []
        at = scan[0].source_timestamp
        values = {r.tag: r.value for r in scan if r.quality == "good"}
        if "active_order" in values:
            self._take_order(values["active_order"], at)
        for tag in _ORDER_COUNTS.values():
            if tag in values:
                self._take_order_count(tag, values[tag], at)
        out: list[ProductionDelta | CounterProblem] = []
        elapsed = (at - self.counted_at).total_seconds() if self.counted_at is not None else 0.0
        limit = math.floor(2 * elapsed / machine.cycle_time_s) + self.slack
        deltas = []
        for tag in ("good_parts", "scrap_parts"):
            new = _count(values.get(tag))
            if new is None:
                deltas.append(0)
                continue
            last = self.good if tag == "good_parts" else self.scrap
            if last is None:  # the baseline: the parts before it come from the order count, when there is one
                if tag == "good_parts":
                    self.good, self.pending_good, self.booked_good_at = new, at, None
                else:
                    self.scrap, self.pending_scrap, self.booked_scrap_at = new, at, None
                deltas.append(0)
                continue
            delta, problem = self._delta(last, new, limit, elapsed)
            if problem:
                out.append(CounterProblem(machine.id, at, "implausible_counter_jump",
                                          f"{tag} of {machine.id} went from {last} to {new} in {elapsed:.0f} s: "
                                          f"{problem}; at most {limit} parts are plausible at a cycle time of "
                                          f"{machine.cycle_time_s:g} s", tuple(scan)))
                delta = 0
            deltas.append(delta)
            if tag == "good_parts":
                self.good = new
            else:
                self.scrap = new
        if any(r.tag in {"good_parts", "scrap_parts"} and r.quality == "good" for r in scan):
            self.counted_at = at
        if deltas[0]:
            self.booked_good_at = at
        if deltas[1]:
            self.booked_scrap_at = at
        for index, tag in enumerate(("good_parts", "scrap_parts")):
            extra, first_problem = self._before_baseline(tag, machine, orders, deltas[index])
            if first_problem:
                out.append(CounterProblem(machine.id, at, "implausible_order_counter", first_problem, tuple(scan)))
            deltas[index] += extra
        good, scrap = deltas
        if good or scrap:
            out.append(self._attribute(machine, orders, at, good, scrap, scan))
        return out

    def _take_order(self, value: object, at: datetime) -> None:
        self.order_id = str(value or "") or None
        self.order_at = at

    def _take_order_count(self, tag: str, value: object, at: datetime) -> None:
        """The newest good value of an order count (a current value may carry an older timestamp)."""
        count = _count(value)
        held_at = self.order_good_at if tag == "order_good_parts" else self.order_scrap_at
        if count is None or (held_at is not None and at < held_at):
            return
        if tag == "order_good_parts":
            self.order_good, self.order_good_at = count, at
        else:
            self.order_scrap, self.order_scrap_at = count, at

    def _before_baseline(self, tag: str, machine: Machine, orders: dict[str, ProductionOrder], delta: int,
                         ) -> tuple[int, str | None]:
        """The parts of a counter's kind made for the order before the counter's baseline, once the order's count
        says how many (0 until then, and without an order count), or why that count is not plausible.

        The count is usable when it is the order in force's (taken no earlier than the order) and no parts of
        its kind were booked after it was taken (the count changes with them: a newer one is on its way); the
        parts already booked for the order (``per_order``, plus this scan's ``delta``) are not booked again."""
        good = tag == "good_parts"
        pending = self.pending_good if good else self.pending_scrap
        if pending is None:
            return 0, None
        if self.order_at is not None and self.order_at > pending:
            self._settle(good)  # an order started after the baseline: the previous order's count is gone
            return 0, None
        count, count_at = (self.order_good, self.order_good_at) if good else (self.order_scrap, self.order_scrap_at)
        booked_at = self.booked_good_at if good else self.booked_scrap_at
        if count is None or count_at is None or (self.order_at is not None and count_at < self.order_at) or (
                booked_at is not None and count_at < booked_at):
            return 0, None  # no count yet, a previous order's, or one older than parts booked since: wait
        self._settle(good)
        order = orders.get(self.order_id or "")
        if order is not None and order.machine_id == machine.id:
            # an order stops at its planned good quantity; scrapping more parts than it plans to make is no
            # real order's count either (a wrong node or a counter that was never reset)
            most = order.planned_qty + self.slack
            if count > most:
                return 0, (f"{_ORDER_COUNTS[tag]} of {machine.id} is {count} for order {order.id} of "
                           f"{order.planned_qty} planned parts: at most {most} are plausible; the parts before "
                           f"the {tag} baseline are not booked")
        booked = self.per_order.get(self.order_id or "", [0, 0])[0 if good else 1] + delta
        return max(0, count - booked), None

    def _settle(self, good: bool) -> None:
        if good:
            self.pending_good = None
        else:
            self.pending_scrap = None

    def _delta(self, last: int | None, new: int, limit: int, elapsed: float) -> tuple[int, str | None]:
        if last is None:
            return 0, None
        if new >= last:
            delta = new - last
            return (delta, None) if delta <= limit else (0, f"a jump of {delta}")
        wrapped = self.modulus - last + new
        if wrapped <= limit:
            return wrapped, None  # rollover
        return (new, None) if new <= limit else (0, f"a reset to {new}")

    def _attribute(self, machine: Machine, orders: dict[str, ProductionOrder], at: datetime, good: int,
                   scrap: int, scan: list[SensorReading]) -> ProductionDelta | CounterProblem:
        order = orders.get(self.order_id or "")
        if order is None or order.machine_id != machine.id:
            what = ("no active order" if self.order_id is None else
                    f"order {self.order_id!r}, " + ("unknown" if order is None else f"of {order.machine_id}"))
            return CounterProblem(machine.id, at, "unknown_order",
                                  f"{good} good and {scrap} scrap parts counted on {machine.id} for {what}",
                                  tuple(scan))
        totals = self.per_order.setdefault(order.id, [0, 0])
        totals[0] += good
        totals[1] += scrap
        return ProductionDelta(machine.id, order.id, good, scrap, at, totals[0], totals[1],
                               tuple(r.id for r in scan))
