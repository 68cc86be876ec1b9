"""One simulated machine: health, state, production of its orders and the PLC's part counters.

:meth:`MachineSim.advance` moves the machine forward by a step of simulated time and returns its tag values
(keys as in the scenario's ``opcua.nodes`` mapping). Everything that happens — degradation onset, failure,
repair, order start/completion, each part made, counter resets — is recorded in the :class:`GroundTruth` as it happens.

An order's last part shows on the counters for one step: the changeover to the next order (counter reset,
``order_started``) happens at the start of the following step, as a PLC's order change does, so that a
reader of the counters sees every part made.

With ``initial_age_h`` in the parameters, a machine has already run a random time (up to that many hours,
from its own random stream) when the simulation begins: its wear is where that running left it (a failure in
that time was repaired and the wear started again), and a degradation onset that lies before the start is
recorded at its (earlier) time with the first step.

Besides the cumulative ``good_parts`` / ``scrap_parts``, the PLC shows the active order's own counts
(``order_good_parts`` / ``order_scrap_parts``, as a PackML-style job counter): they restart at 0 when an order
starts, are 0 while idle, and a restart after a repair does not zero them.

States: ``running`` (an order and healthy), ``idle`` (no order left), ``down`` (failed, waiting for a
technician), ``maintenance`` (being repaired). Part counters stop while not running; the PLC zeroes them
when a new order starts and, with a configured chance, when the machine restarts after a repair.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from millstream.masterdata import Machine, ProductionOrder
from simulators.config import PlantParameters
from simulators.groundtruth import GroundTruth
from simulators.plant.physics import AMBIENT_C, Health, profile_for, signals

__all__ = ["TAGS", "MachineSim"]

#: Tag names (as in the scenario's node mapping) and what each carries.
TAGS = ("spindle_temperature", "vibration_rms", "motor_current", "spindle_speed", "good_parts", "scrap_parts",
        "state", "active_order", "order_good_parts", "order_scrap_parts")


class MachineSim:
    """A machine of the scenario playing its production orders while it wears."""

    def __init__(self, machine: Machine, orders: list[ProductionOrder], params: PlantParameters, seed: int,
                 truth: GroundTruth) -> None:
        self.machine = machine
        self.params = params
        self.truth = truth
        self._rng = random.Random(f"{seed}:plant:{machine.id}")
        self.profile = profile_for(machine.kind)
        self.health = Health(self._rng, params)
        if params.initial_age_h > 0:
            self._age(self._rng.uniform(0.0, params.initial_age_h) * 3600.0)
        self.orders = sorted((o for o in orders if o.status in {"released", "in_progress"}),
                             key=lambda o: (o.sequence, o.id))
        self._order_index = 0
        self.state = "running" if self.orders else "idle"
        self.good_parts = 0
        self.scrap_parts = 0
        self.order_good = 0
        self.order_scrap = 0
        self._cycle_progress_s = 0.0
        self._cycle_time_s = self._next_cycle_time()
        self._repair_left_s = 0.0
        self._wait_left_s = 0.0
        self.temperature_c = AMBIENT_C + 0.5 * (self.profile.temperature_c - AMBIENT_C)
        self._last: dict[str, Any] = {}
        self._started = False
        self._changeover = False

    @property
    def active_order(self) -> ProductionOrder | None:
        return self.orders[self._order_index] if self._order_index < len(self.orders) else None

    def _next_cycle_time(self) -> float:
        return self.machine.cycle_time_s * self._rng.uniform(0.95, 1.05)

    def _age(self, running_s: float, step_s: float = 60.0) -> None:
        """Wear as ``running_s`` seconds of running before the simulation begins would have (see the module
        docstring); a failure in that time is repaired at once."""
        left = running_s
        while left > 0:
            self.health.run(min(step_s, left))
            left -= step_s
            if self.health.failed:
                self.health.renew()

    def _record(self, now: datetime, kind: str, **details: Any) -> None:
        self.truth.record(now, kind, self.machine.id, **details)

    def advance(self, now: datetime, dt_s: float) -> dict[str, Any]:
        """Play the step that ends at ``now`` (``dt_s`` simulated seconds long); the machine's tag values."""
        if not self._started:
            self._started = True
            if self.health.degrading:  # the onset happened before the simulation began (initial_age_h)
                since_s = self.health.running_s - self.health.onset_at_s
                self._record(now - timedelta(seconds=dt_s + since_s), "degradation_onset", before_start=True,
                             health_at_start=round(self.health.value, 4))
            order = self.active_order
            if order is not None:
                self._record(now - timedelta(seconds=dt_s), "order_started", order_id=order.id,
                             planned_qty=order.planned_qty)
        if self._changeover:
            self._change_order(now)
        if self.state == "running":
            self._run(now, dt_s)
        elif self.state == "down":
            self._wait_left_s -= dt_s
            if self._wait_left_s <= 0:
                self.state = "maintenance"
                self._record(now, "repair_started")
        elif self.state == "maintenance":
            self._repair_left_s -= dt_s
            if self._repair_left_s <= 0:
                self._restart(now)
        running = self.state == "running"
        sig = signals(self._rng, self.profile, self.health.degradation, running, self.temperature_c, dt_s,
                      self.params.noise)
        self.temperature_c = sig.temperature_c
        order = self.active_order
        self._last = {
            "spindle_temperature": round(sig.temperature_c, 3),
            "vibration_rms": round(sig.vibration_mm_s, 4),
            "motor_current": round(sig.current_a, 3),
            "spindle_speed": round(sig.spindle_rpm, 1),
            "good_parts": self.good_parts,
            "scrap_parts": self.scrap_parts,
            "state": self.state,
            "active_order": order.id if order is not None and self.state != "idle" else "",
            "order_good_parts": self.order_good if order is not None and self.state != "idle" else 0,
            "order_scrap_parts": self.order_scrap if order is not None and self.state != "idle" else 0,
        }
        return self._last

    def values(self) -> dict[str, Any]:
        """The tag values of the last step."""
        return dict(self._last)

    def _run(self, now: datetime, dt_s: float) -> None:
        if self.health.run(dt_s):
            self._record(now, "degradation_onset", health=round(self.health.value, 4))
        if self.health.failed:
            self._fail(now)
            return
        self._cycle_progress_s += dt_s
        while self._cycle_progress_s >= self._cycle_time_s and self.state == "running" and not self._changeover:
            self._cycle_progress_s -= self._cycle_time_s
            self._cycle_time_s = self._next_cycle_time()
            self._make_part(now)

    def _make_part(self, now: datetime) -> None:
        p = self.params
        worn = min(1.0, self.health.degradation / (1.0 - p.failure_threshold))
        scrap = self._rng.random() < p.scrap_probability + (p.scrap_probability_worn - p.scrap_probability) * worn
        if scrap:
            self.scrap_parts += 1
            self.order_scrap += 1
        else:
            self.good_parts += 1
            self.order_good += 1
        order = self.active_order
        if order is not None:  # the physical fact: one part of the order made (it consumed its BOM), good or not
            self._record(now, "part_made", order_id=order.id, product_id=order.product_id,
                         location_id=self.machine.location_id, scrap=scrap)
        if order is not None and self.order_good >= order.planned_qty:
            self._record(now, "order_completed", order_id=order.id, good_parts=self.order_good,
                         scrap_parts=self.order_scrap)
            self._changeover = True

    def _change_order(self, now: datetime) -> None:
        """Start the next order (or go idle) after the step that completed the previous one."""
        self._changeover = False
        self._order_index += 1
        self.order_good = self.order_scrap = 0
        nxt = self.active_order
        if nxt is None:
            self.state = "idle"
            self._record(now, "idle")
        else:
            self._reset_counters(now, "new_order")
            self._record(now, "order_started", order_id=nxt.id, planned_qty=nxt.planned_qty)

    def _reset_counters(self, now: datetime, reason: str) -> None:
        self._record(now, "counter_reset", reason=reason, good_parts_before=self.good_parts,
                     scrap_parts_before=self.scrap_parts, order_id=getattr(self.active_order, "id", None))
        self.good_parts = self.scrap_parts = 0

    def _fail(self, now: datetime) -> None:
        self.state = "down"
        repair_s = max(600.0, self._rng.expovariate(1.0 / (self.params.repair_mean_min * 60.0)))
        self._wait_left_s = 0.3 * repair_s
        self._repair_left_s = 0.7 * repair_s
        self._cycle_progress_s = 0.0
        order = self.active_order
        self._record(now, "failure", health=round(self.health.value, 4),
                     running_hours=round(self.health.running_s / 3600.0, 3),
                     order_id=order.id if order else None, order_good_parts=self.order_good,
                     order_scrap_parts=self.order_scrap, repair_minutes=round(repair_s / 60.0, 1))

    def _restart(self, now: datetime) -> None:
        self.health.renew()
        self.state = "running" if self.active_order is not None else "idle"
        self._record(now, "repaired", state=self.state)
        if self._rng.random() < self.params.reset_on_restart_probability:
            self._reset_counters(now, "restart")

    def finish(self, now: datetime) -> None:
        """Record where the active order stands when the simulation ends."""
        order = self.active_order
        if order is not None and not self._changeover:  # a just-completed order has its order_completed
            self._record(now, "order_progress", order_id=order.id, good_parts=self.order_good,
                         scrap_parts=self.order_scrap, state=self.state)
