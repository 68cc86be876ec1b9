"""A material's movements from several sources go out in event-time order once every source has read past them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from millstream.inventory.catalog import GATE_SOURCE, OPENING_SOURCE, machine_source
from millstream.inventory.movements import Movement
from millstream.inventory.ordering import DONE, MovementOrder
from tests.helpers.inventory import CATALOG, T0

CNC = machine_source("ASSY-01")
SOURCES = frozenset({OPENING_SOURCE, GATE_SOURCE, CNC})


def transfer(seconds: float, qty: str = "10") -> Movement:
    return Movement(movement_type="transfer", material_id="SF-HOUSING", quantity=Decimal(qty),
                    from_location_id="LIV-WH", to_location_id="LIV-LINE-B", occurred_at=T0 + timedelta(seconds=seconds),
                    source_id=f"pass-{seconds}")


def backflush(seconds: float, qty: str = "1") -> Movement:
    return Movement(movement_type="backflush", material_id="SF-HOUSING", quantity=Decimal(qty),
                    from_location_id="LIV-LINE-B", occurred_at=T0 + timedelta(seconds=seconds),
                    source_id=f"delta-{seconds}", machine_id="ASSY-01")


def test_the_catalog_names_the_sources_of_each_material() -> None:
    assert CATALOG.sources_of("SF-HOUSING") == frozenset({OPENING_SOURCE, GATE_SOURCE, machine_source("MILL-01"),
                                                          machine_source("MILL-02"), CNC})
    assert "SF-HOUSING" in CATALOG.materials_of(CNC) and "FG-PUMP-P100" in CATALOG.materials_of(CNC)
    assert "RM-STEEL-BAR" not in CATALOG.materials_of(CNC)
    assert set(CATALOG.materials_of(GATE_SOURCE)) == set(CATALOG.materials)


def test_a_backflush_read_ahead_of_its_transfer_waits_for_the_gate_stream() -> None:
    order = MovementOrder(SOURCES)
    assert order.advance(OPENING_SOURCE, DONE) == []
    early = [backflush(120), backflush(180)]
    assert [order.add(m) for m in early] == [[], []]
    assert order.advance(CNC, T0 + timedelta(seconds=600)) == []  # the gates were not heard from yet
    assert order.advance(GATE_SOURCE, T0 + timedelta(seconds=30)) == []  # nothing before 30 s
    assert order.add(transfer(60)) == []
    released = order.advance(GATE_SOURCE, T0 + timedelta(seconds=150))
    assert [m.source_id for m in released] == ["pass-60", "delta-120"]
    assert [m.source_id for m in order.advance(GATE_SOURCE, DONE)] == ["delta-180"]
    assert order.late == 0


def test_the_end_of_input_releases_what_a_silent_source_holds_back_in_order() -> None:
    order = MovementOrder(SOURCES)
    for m in (backflush(300), transfer(10), backflush(100)):
        assert order.add(m) == []
    assert [m.source_id for m in order.flush()] == ["pass-10", "delta-100", "delta-300"]


def test_following_the_topics_a_movement_waits_at_most_max_wait_behind_the_newest_source() -> None:
    order = MovementOrder(SOURCES, max_wait=timedelta(minutes=5))
    order.add(backflush(0))
    assert order.advance(CNC, T0 + timedelta(minutes=4)) == []
    assert [m.source_id for m in order.advance(CNC, T0 + timedelta(minutes=5, seconds=1))] == ["delta-0"]
    # Now a movement older than what went out is late: it goes out at once and is counted.
    assert [m.source_id for m in order.add(transfer(-5))] == ["pass--5"]
    assert order.late == 1


def test_at_one_instant_what_puts_stock_goes_before_what_takes_it() -> None:
    order = MovementOrder(frozenset({GATE_SOURCE}))
    receipt = Movement(movement_type="production_receipt", material_id="SF-HOUSING", quantity=Decimal(1),
                       to_location_id="LIV-WH", occurred_at=T0, source_id="delta-r", lot="PO-1007")
    issue = Movement(movement_type="goods_issue", material_id="SF-HOUSING", quantity=Decimal(1),
                     from_location_id="LIV-WH", occurred_at=T0, source_id="pass-i")
    order.add(issue)
    order.add(receipt)
    assert [m.movement_type for m in order.advance(GATE_SOURCE, DONE)] == ["production_receipt", "goods_issue"]
