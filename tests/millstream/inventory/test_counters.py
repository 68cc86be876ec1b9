"""Part counters -> production deltas: resets, rollovers, PLC restarts, implausible jumps, unknown orders, the
active order's counts before a counter's baseline."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.events.telemetry import SensorReading
from millstream.inventory.counters import CounterProblem, CounterTracker, ProductionDelta
from millstream.masterdata import Machine, ProductionOrder

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
MACHINE = Machine.model_validate({"id": "CNC-01", "name": "lathe", "site_id": "S", "location_id": "L", "kind": "lathe",
                                  "cycle_time_s": 30, "opcua": {"endpoint": "opc.tcp://x", "nodes": {"a": "b"}}})
ORDERS = {o.id: o for o in [
    ProductionOrder(id="PO-1", machine_id="CNC-01", product_id="P", planned_qty=10),
    ProductionOrder(id="PO-2", machine_id="CNC-01", product_id="P", planned_qty=10),
    ProductionOrder(id="PO-X", machine_id="CNC-99", product_id="P", planned_qty=10),
]}


def reading(tag: str, value: object, seconds: float, status: int = 0) -> SensorReading:
    return SensorReading.model_validate({"machine_id": "CNC-01", "tag": tag, "value": value, "status_code": status,
                                         "source_timestamp": T0 + timedelta(seconds=seconds)},
                                        context=WITHOUT_TIME_CHECK)


def feed(tracker: CounterTracker, scans: list[tuple[float, dict[str, object]]],
         ) -> list[ProductionDelta | CounterProblem]:
    out: list[ProductionDelta | CounterProblem] = []
    for seconds, values in scans:
        for tag, value in values.items():
            out += tracker.push(reading(tag, value, seconds), MACHINE, ORDERS)
    return out + tracker.flush(MACHINE, ORDERS)


def goods(out: list[ProductionDelta | CounterProblem]) -> list[tuple[str, int, int]]:
    return [(d.order_id, d.good, d.scrap) for d in out if isinstance(d, ProductionDelta)]


def test_first_value_is_a_baseline_and_increments_are_production() -> None:
    out = feed(CounterTracker(), [(0, {"active_order": "PO-1", "good_parts": 5, "scrap_parts": 1}),
                                  (60, {"good_parts": 7}), (120, {"scrap_parts": 2, "good_parts": 8})])
    assert goods(out) == [("PO-1", 2, 0), ("PO-1", 1, 1)]
    assert out[-1].order_good == 3 and out[-1].order_scrap == 1


def test_a_drop_is_a_reset_and_the_order_change_of_a_scan_applies_before_its_counters() -> None:
    # The new order's scan carries the reset counter (1: a part already made) — it belongs to PO-2.
    out = feed(CounterTracker(), [(0, {"active_order": "PO-1", "good_parts": 0, "scrap_parts": 0}),
                                  (60, {"good_parts": 2}), (90, {"good_parts": 1, "active_order": "PO-2"}),
                                  (120, {"good_parts": 2})])
    assert goods(out) == [("PO-1", 2, 0), ("PO-2", 1, 0), ("PO-2", 1, 0)]


def test_the_order_in_force_counts_even_when_it_arrives_after_a_later_counter_value() -> None:
    # A subscription's first values carry each tag's last-change time: the counter changed a minute after the
    # order was set, and its value arrives first. The order still applies; an older order value does not win.
    tracker = CounterTracker()
    out = tracker.push(reading("good_parts", 2, 60), MACHINE, ORDERS)
    out += tracker.push(reading("active_order", "PO-1", 0), MACHINE, ORDERS)
    out += tracker.push(reading("good_parts", 3, 90), MACHINE, ORDERS)
    out += tracker.push(reading("active_order", "PO-2", 120), MACHINE, ORDERS)
    out += tracker.push(reading("active_order", "PO-1", 30), MACHINE, ORDERS)  # stale: PO-2 came later
    out += tracker.push(reading("good_parts", 4, 150), MACHINE, ORDERS)
    out += tracker.flush(MACHINE, ORDERS)
    assert goods(out) == [("PO-1", 1, 0), ("PO-2", 1, 0)]
    assert not [p for p in out if isinstance(p, CounterProblem)]


def test_a_plc_restart_zeroes_the_counters_without_negative_production() -> None:
    out = feed(CounterTracker(), [(0, {"active_order": "PO-1", "good_parts": 40, "scrap_parts": 3}),
                                  (3600, {"good_parts": 0, "scrap_parts": 0}), (3630, {"good_parts": 1})])
    assert goods(out) == [("PO-1", 1, 0)]


def test_rollover_of_the_counter_modulus_counts_the_wrapped_parts() -> None:
    out = feed(CounterTracker(modulus=2**16), [(0, {"active_order": "PO-1", "good_parts": 65534}),
                                               (90, {"good_parts": 1})])
    assert goods(out) == [("PO-1", 3, 0)]  # 65534 -> 65535 -> 0 -> 1


def test_an_implausible_jump_is_not_booked_and_becomes_a_problem_with_the_reason() -> None:
    out = feed(CounterTracker(), [(0, {"active_order": "PO-1", "good_parts": 10}), (60, {"good_parts": 5000}),
                                  (90, {"good_parts": 5001})])
    problems = [p for p in out if isinstance(p, CounterProblem)]
    assert [p.error_type for p in problems] == ["implausible_counter_jump"]
    assert "from 10 to 5000 in 60 s" in problems[0].reason and "at most 6" in problems[0].reason
    assert goods(out) == [("PO-1", 1, 0)]  # the flow goes on from the new value


@pytest.mark.parametrize(("order", "expected"), [("", "no active order"), ("PO-404", "'PO-404', unknown"),
                                                 ("PO-X", "'PO-X', of CNC-99")])
def test_parts_for_no_or_an_unknown_order_are_problems(order: str, expected: str) -> None:
    out = feed(CounterTracker(), [(0, {"active_order": order, "good_parts": 0}), (30, {"good_parts": 1})])
    assert goods(out) == []
    assert [p.error_type for p in out] == ["unknown_order"]
    assert expected in out[0].reason


def test_bad_quality_readings_and_late_readings_are_not_counter_values() -> None:
    tracker = CounterTracker()
    out = feed(tracker, [(0, {"active_order": "PO-1", "good_parts": 3}), (30, {"good_parts": 4})])
    out += tracker.push(reading("good_parts", None, 60, status=0x80000000), MACHINE, ORDERS)
    out += tracker.push(reading("good_parts", 1, 10), MACHINE, ORDERS)  # older than a taken scan: ignored
    out += tracker.flush(MACHINE, ORDERS)
    out += feed(tracker, [(90, {"good_parts": 5})])
    assert goods(out) == [("PO-1", 1, 0), ("PO-1", 1, 0)]


def test_a_first_reading_mid_order_books_the_parts_the_order_counted_before_it() -> None:
    # The bridge subscribed while PO-1 was running: the cumulative counters were at 40/3, the order's own
    # counts at 6 good and 1 scrap. Those parts are booked at the first scan, then the increments as ever.
    out = feed(CounterTracker(), [
        (0, {"active_order": "PO-1", "good_parts": 40, "scrap_parts": 3, "order_good_parts": 6,
             "order_scrap_parts": 1}),
        (60, {"good_parts": 42, "order_good_parts": 8}), (90, {"good_parts": 1, "scrap_parts": 0,
                                                               "active_order": "PO-2", "order_good_parts": 1,
                                                               "order_scrap_parts": 0})])
    assert goods(out) == [("PO-1", 6, 1), ("PO-1", 2, 0), ("PO-2", 1, 0)]
    assert not [p for p in out if isinstance(p, CounterProblem)]
    assert [(d.order_good, d.order_scrap) for d in out if isinstance(d, ProductionDelta)][1] == (8, 1)


def test_the_order_counts_of_a_subscriptions_first_values_count_whatever_their_timestamps() -> None:
    # First values carry each tag's last-change time: the counter was zeroed by a restart (at 60) after the
    # order's last part (at 30), and the order counts arrive after it. They still apply to the first scan.
    tracker = CounterTracker()
    out = tracker.push(reading("good_parts", 0, 60), MACHINE, ORDERS)
    out += tracker.push(reading("active_order", "PO-1", 0), MACHINE, ORDERS)
    out += tracker.push(reading("order_good_parts", 5, 30), MACHINE, ORDERS)
    out += tracker.push(reading("good_parts", 1, 90), MACHINE, ORDERS)
    out += tracker.push(reading("order_good_parts", 6, 90), MACHINE, ORDERS)
    out += tracker.flush(MACHINE, ORDERS)
    assert goods(out) == [("PO-1", 5, 0), ("PO-1", 1, 0)]


def test_a_restored_state_never_books_the_order_counts_twice() -> None:
    tracker = CounterTracker()
    first = feed(tracker, [(0, {"active_order": "PO-1", "good_parts": 40, "order_good_parts": 6})])
    restored = copy.deepcopy(tracker)  # as the flow's recovery snapshot
    again = feed(restored, [(60, {"good_parts": 41, "order_good_parts": 7}),
                            (90, {"good_parts": 42, "order_good_parts": 8})])
    assert goods(first) + goods(again) == [("PO-1", 6, 0), ("PO-1", 1, 0), ("PO-1", 1, 0)]
    # A state that booked parts of the order but has no baseline (a replaced PLC, whose counters started
    # afresh): only what the order counted beyond what was booked is new.
    carried = CounterTracker(per_order={"PO-1": [6, 0]})
    out = feed(carried, [(120, {"active_order": "PO-1", "good_parts": 2, "order_good_parts": 8})])
    assert goods(out) == [("PO-1", 2, 0)]
    out = feed(CounterTracker(per_order={"PO-1": [9, 0]}),
               [(120, {"active_order": "PO-1", "good_parts": 2, "order_good_parts": 8})])
    assert goods(out) == []  # never negative


def test_an_absurd_order_count_is_not_booked_and_becomes_a_problem_with_the_reason() -> None:
    out = feed(CounterTracker(), [(0, {"active_order": "PO-1", "good_parts": 40, "scrap_parts": 0,
                                       "order_good_parts": 4000, "order_scrap_parts": 0}),
                                  (30, {"good_parts": 41, "order_good_parts": 4001})])
    problems = [p for p in out if isinstance(p, CounterProblem)]
    assert [p.error_type for p in problems] == ["implausible_order_counter"]
    assert "order_good_parts of CNC-01 is 4000" in problems[0].reason
    assert "PO-1 of 10 planned parts: at most 12" in problems[0].reason
    assert goods(out) == [("PO-1", 1, 0)]  # the baseline is taken, the flow goes on


def test_order_counts_of_a_previous_order_or_with_bad_quality_book_nothing_before_the_baseline() -> None:
    tracker = CounterTracker()
    out = tracker.push(reading("order_good_parts", 9, 0), MACHINE, ORDERS)  # PO-1's, before PO-2 started
    out += tracker.push(reading("active_order", "PO-2", 30), MACHINE, ORDERS)
    out += tracker.push(reading("good_parts", 0, 60), MACHINE, ORDERS)
    out += tracker.flush(MACHINE, ORDERS)
    assert goods(out) == [] and out == []
    tracker = CounterTracker()
    tracker.push(reading("active_order", "PO-1", 0), MACHINE, ORDERS)
    tracker.push(reading("order_good_parts", None, 0, status=0x80000000), MACHINE, ORDERS)
    out = tracker.push(reading("good_parts", 40, 0), MACHINE, ORDERS) + tracker.flush(MACHINE, ORDERS)
    assert out == []


def test_order_counts_with_no_active_order_are_problems() -> None:
    out = feed(CounterTracker(), [(0, {"active_order": "", "good_parts": 40, "order_good_parts": 3})])
    assert [p.error_type for p in out] == ["unknown_order"]


def test_the_order_count_may_arrive_after_the_counters_first_scan_was_taken_in() -> None:
    # A subscription's first values in no time order: good_parts (at 60) and scrap_parts (at 90) take their
    # baselines before the order and its good count (at 60) arrive; the parts before the baseline are booked
    # with the next scan. A count older than parts booked since is not used: a newer one is on its way.
    tracker = CounterTracker()
    out = tracker.push(reading("good_parts", 22, 60), MACHINE, ORDERS)
    out += tracker.push(reading("scrap_parts", 2, 90), MACHINE, ORDERS)
    out += tracker.push(reading("active_order", "PO-1", 0), MACHINE, ORDERS)
    out += tracker.push(reading("order_good_parts", 7, 60), MACHINE, ORDERS)
    out += tracker.push(reading("order_scrap_parts", 1, 90), MACHINE, ORDERS)
    out += tracker.push(reading("good_parts", 23, 120), MACHINE, ORDERS)
    out += tracker.push(reading("order_good_parts", 8, 120), MACHINE, ORDERS)
    out += tracker.flush(MACHINE, ORDERS)
    assert goods(out) == [("PO-1", 7, 1), ("PO-1", 1, 0)]
    late = CounterTracker()
    out = feed(late, [(0, {"active_order": "PO-1", "good_parts": 22}), (30, {"good_parts": 23})])
    out += late.push(reading("order_good_parts", 7, 0), MACHINE, ORDERS)  # older than the part booked at 30
    out += feed(late, [(60, {"good_parts": 24, "order_good_parts": 9})])
    assert goods(out) == [("PO-1", 1, 0), ("PO-1", 8, 0)]


def test_a_later_signal_of_the_machine_takes_the_pending_scan_in_without_waiting_for_the_next_part() -> None:
    # The machine fails right after the part of the scan at 60 s: its counters do not change for an hour, its
    # sensor signals go on. The scan is complete once a reading of any tag carries a later timestamp.
    tracker = CounterTracker()
    for tag, value in {"active_order": "PO-1", "good_parts": 5, "scrap_parts": 0}.items():
        tracker.push(reading(tag, value, 0), MACHINE, ORDERS)
    assert tracker.push(reading("good_parts", 6, 60), MACHINE, ORDERS) == []
    assert tracker.tick(T0 + timedelta(seconds=60), MACHINE, ORDERS) == []  # the same scan: may have more tags
    out = tracker.tick(T0 + timedelta(seconds=61), MACHINE, ORDERS)
    assert goods(out) == [("PO-1", 1, 0)] and out[0].at == T0 + timedelta(seconds=60)
    assert tracker.tick(T0 + timedelta(seconds=70), MACHINE, ORDERS) == []  # nothing pending
    assert goods(tracker.push(reading("good_parts", 7, 3600), MACHINE, ORDERS)
                 + tracker.flush(MACHINE, ORDERS)) == [("PO-1", 1, 0)]
