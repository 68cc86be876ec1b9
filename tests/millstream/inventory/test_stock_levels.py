"""Dynamic safety stock, effective reorder point and projected run-out from a small consumption series
(in-process, no broker): the expectations are computed here from the series by the definitions, not taken
from the code under test."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from millstream.inventory.movements import Movement, quantity
from millstream.inventory.stock import DEMAND_HOURS, MaterialStock, StockSample, reorder_levels
from millstream.masterdata import StockPolicy

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
LINE = "LIV-LINE-A"


def mv(kind: str, qty: float, hour: int, minute: int = 0) -> Movement:
    ends = {"opening": {"to_location_id": LINE}, "goods_receipt": {"to_location_id": LINE},
            "backflush": {"from_location_id": LINE, "reference": "PO-1", "machine_id": "CNC-01"},
            "transfer": {"from_location_id": LINE, "to_location_id": "LIV-LINE-B"}}[kind]
    return Movement(movement_type=kind, material_id="RM-STEEL-BAR", quantity=quantity(qty),
                    occurred_at=T0 + timedelta(hours=hour, minutes=minute), source_id=f"{kind}-{hour}-{minute}",
                    **ends)


def feed(movements: list[Movement]) -> StockSample:
    """The sample of the line-side location after the last movement."""
    stock = MaterialStock()
    sample = None
    for m in movements:
        sample = next(s for s in stock.apply(m) if s.location_id == LINE)
    assert sample is not None
    return sample


# Outflow per complete hour 0..4: 10, 14 (a transfer out counts), 6 (two backflushes), 0 (nothing), 12.
# The receipt in hour 2 is not demand; the sample is taken in hour 5 (the current, incomplete hour).
SERIES = [10.0, 14.0, 6.0, 0.0, 12.0]
MOVEMENTS = [mv("opening", 500, 0), mv("backflush", 10, 0, 20), mv("transfer", 14, 1, 5), mv("backflush", 4, 2, 10),
             mv("goods_receipt", 50, 2, 30), mv("backflush", 2, 2, 50), mv("backflush", 12, 4, 40),
             mv("backflush", 3, 5, 30)]


def population_sigma(xs: list[float]) -> float:
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))


def test_hourly_demand_is_the_outflow_per_complete_hour() -> None:
    sample = feed(MOVEMENTS)
    assert sample.hourly_demand == tuple(SERIES)
    assert sample.on_hand == quantity(500 + 50 - sum(SERIES) - 3)
    assert sample.at == T0 + timedelta(hours=5, minutes=30)


def test_dynamic_safety_stock_dominates_when_demand_is_volatile() -> None:
    policy = StockPolicy(material_id="RM-STEEL-BAR", location_id=LINE, reorder_point=10, safety_stock=5,
                         max_stock=800, lead_time_h=4, service_z=1.65)
    levels = reorder_levels(feed(MOVEMENTS), policy)
    mean = sum(SERIES) / len(SERIES)  # 8.4 per hour
    sigma = population_sigma(SERIES)  # sqrt(123.2 / 5) = 4.964
    assert mean == pytest.approx(8.4) and sigma == pytest.approx(math.sqrt(24.64))
    dynamic = 1.65 * sigma * math.sqrt(4)  # 16.38 > master-data safety stock 5
    assert levels.mean_hourly_demand == pytest.approx(mean)
    assert levels.dynamic_safety_stock == pytest.approx(dynamic)
    assert levels.safety_stock == pytest.approx(dynamic)
    assert levels.reorder_point == pytest.approx(mean * 4 + dynamic)  # 49.98 > master-data reorder point 10
    on_hand = 500 + 50 - sum(SERIES) - 3  # 503
    assert levels.run_out_at == T0 + timedelta(hours=5, minutes=30) + timedelta(hours=on_hand / mean)


def test_master_data_levels_win_over_calm_demand() -> None:
    policy = StockPolicy(material_id="RM-STEEL-BAR", location_id=LINE, reorder_point=120, safety_stock=40,
                         max_stock=800, lead_time_h=4, service_z=1.65)
    levels = reorder_levels(feed(MOVEMENTS), policy)
    assert levels.dynamic_safety_stock == pytest.approx(1.65 * population_sigma(SERIES) * 2)
    assert levels.safety_stock == 40
    assert levels.reorder_point == 120


def test_demand_window_forgets_hours_older_than_the_window() -> None:
    late = DEMAND_HOURS + 6
    sample = feed([mv("opening", 500, 0), mv("backflush", 50, 0, 10), mv("backflush", 2, late - 10),
                   mv("backflush", 1, late, 15)])
    # the 50 of hour 0 has left the window; from the oldest remaining demand hour up to the current hour
    assert sample.hourly_demand == (2.0, *([0.0] * 9))
    levels = reorder_levels(sample, StockPolicy(material_id="RM-STEEL-BAR", location_id=LINE, reorder_point=10,
                                                max_stock=800, lead_time_h=9, service_z=2.0))
    assert levels.mean_hourly_demand == pytest.approx(0.2)
    assert levels.dynamic_safety_stock == pytest.approx(2.0 * population_sigma([2.0, *[0.0] * 9]) * 3)
    assert levels.run_out_at == sample.at + timedelta(hours=447 / 0.2)


@pytest.mark.parametrize(("movements", "why"), [
    ([mv("opening", 500, 0), mv("goods_receipt", 20, 3)], "no demand yet: no rate to run out at"),
    ([mv("opening", 5, 0), mv("backflush", 5, 0, 10), mv("backflush", 3, 2)], "already out (negative stock)"),
])
def test_no_run_out_without_demand_or_stock(movements: list[Movement], why: str) -> None:
    policy = StockPolicy(material_id="RM-STEEL-BAR", location_id=LINE, reorder_point=10, max_stock=800)
    assert reorder_levels(feed(movements), policy).run_out_at is None, why
