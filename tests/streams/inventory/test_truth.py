"""The ledger against the physical world (real broker and database): a simulated demo day — the plant's part
counters and the RFID gates, as ``millstream up`` plays them — through the inventory flow. The physical stock
per material x location comes from the simulators' facts alone (each part made, each tag pass and where its
goods went, read or not: :func:`tests.helpers.inventory.physical_stock`).

- The demo world never holds less than nothing anywhere, and the flow raises no stock exception; the ledger,
  and the ERP's view of it (opening balances + postings), equal the physical stock exactly — at the end and at
  instants in between; production confirmed per order equals the parts really made.
- With a mis-scanned pallet injected (``simulation.gates.inject: [mis_scanned_pallet]``) the ledger runs short
  of the unread housings: stock exceptions for them alone, posted to the ERP; once the re-scan arrives the
  ledger and the ERP equal the physical stock again, and the alert is cleared.
- With the readings beginning 20 minutes into the run (the plant's clock starts before the bridge subscribes,
  as in ``millstream up``), production confirmed per order still equals the parts really made: the orders'
  own counts (``order_good_parts``, ``order_scrap_parts``) book what was made before the first reading.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
from bytewax.testing import run_main

from millstream.settings import Settings
from streams.inventory import build_flow
from tests.helpers.inventory import (
    confirmed_parts,
    erp_stock,
    ledger_stock,
    ledger_stock_at,
    parts_made,
    physical_stock,
    physically_negative,
    publish,
    quiet_instants,
    simulate,
)


def exceptions(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT e.*, m.movement_type FROM stock_exceptions e JOIN stock_movements m "
                        "USING (movement_id) ORDER BY e.occurred_at").fetchall()


def test_a_simulated_demo_day_books_exactly_the_physical_stock_without_an_exception(
        inv_settings: Settings, inv_db: psycopg.Connection) -> None:
    day = simulate(hours=6)
    assert physically_negative(day) == [], "the simulated world itself went below zero"
    publish(inv_settings, day.readings, day.reads)

    run_main(build_flow(inv_settings, day.scenario, follow=False))

    assert exceptions(inv_db) == []
    outbox = {r["record_type"]: r["n"] for r in inv_db.execute(
        "SELECT record_type, count(*) AS n FROM erp_outbox GROUP BY 1").fetchall()}
    assert "inventory.stock_exception" not in outbox and outbox["inventory.transfer"] > 1000
    assert inv_db.execute("SELECT count(*) AS n FROM alerts WHERE alert_type = 'negative_stock'").fetchone()["n"] == 0
    physical = physical_stock(day)
    assert ledger_stock(inv_db) == physical
    assert erp_stock(inv_db, day.scenario) == physical
    for at in quiet_instants(day, timedelta(minutes=40)):
        assert ledger_stock_at(inv_db, at) == physical_stock(day, at), at - day.start
    made = parts_made(day)
    assert sum(good for good, _ in made.values()) > 1000 and any(scrap for _, scrap in made.values())
    assert confirmed_parts(inv_db) == made


def test_a_mis_scanned_pallet_raises_exceptions_until_its_re_scan_puts_ledger_and_erp_right(
        inv_settings: Settings, inv_db: psycopg.Connection) -> None:
    day = simulate(hours=5, inject=("mis_scanned_pallet",))
    unread = [f for f in day.gate_facts if f.details["rescanned_at"]]
    assert {(f.details["material_id"], f.details["to_location_id"]) for f in unread} == {("SF-HOUSING", "LIV-LINE-B")}
    passed = max(f.time for f in unread)
    first_rescan = min(datetime.fromisoformat(f.details["rescanned_at"]) for f in unread)
    rescanned = max(datetime.fromisoformat(f.details["rescanned_at"]) for f in unread)
    assert rescanned < day.end and physically_negative(day) == []
    publish(inv_settings, day.readings, day.reads)

    run_main(build_flow(inv_settings, day.scenario, follow=False))

    found = exceptions(inv_db)
    assert found, "the unread housings were consumed before the re-scan: the ledger must have run short"
    assert {(e["movement_type"], e["material_id"], e["location_id"]) for e in found} == {
        ("backflush", "SF-HOUSING", "LIV-LINE-B")}
    assert all(passed < e["occurred_at"] < first_rescan for e in found)
    posted = inv_db.execute("SELECT count(*) AS n FROM erp_outbox WHERE record_type = 'inventory.stock_exception'"
                            ).fetchone()["n"]
    assert posted == len(found)
    # In between, the ledger lacks exactly the unread cases at the line side and has them in the warehouse.
    short = Decimal(len(unread))
    between = found[-1]["occurred_at"]
    booked, physical = ledger_stock_at(inv_db, between), physical_stock(day, between)
    assert booked[("SF-HOUSING", "LIV-LINE-B")] == physical[("SF-HOUSING", "LIV-LINE-B")] - short < 0
    assert booked[("SF-HOUSING", "LIV-WH")] == physical[("SF-HOUSING", "LIV-WH")] + short
    # Once the late re-scan arrived, the ledger and the ERP agree with the physical world again.
    after = rescanned + timedelta(minutes=1)
    assert ledger_stock_at(inv_db, after) == physical_stock(day, after)
    assert ledger_stock(inv_db) == physical_stock(day) == erp_stock(inv_db, day.scenario)
    alert = inv_db.execute("SELECT state, opened_at, cleared_at FROM alerts WHERE alert_type = 'negative_stock'"
                           ).fetchall()
    assert [(a["state"], a["opened_at"]) for a in alert] == [("cleared", found[0]["occurred_at"])]
    assert first_rescan <= alert[0]["cleared_at"] <= rescanned
    assert confirmed_parts(inv_db) == parts_made(day)


def test_readings_that_begin_mid_run_still_confirm_exactly_the_parts_made(
        inv_settings: Settings, inv_db: psycopg.Connection) -> None:
    # As in ``millstream up``: the plant's clock runs before the bridge subscribes. Its first readings find every
    # machine's first order under way; the cumulative counters' first values are only baselines, the orders'
    # own counts say what was made before them.
    late = timedelta(minutes=20)
    day = simulate(hours=2, readings_from=late)
    before = {order: n for order, n in parts_made(day).items() if any(
        f.kind == "part_made" and f.details["order_id"] == order and f.time < day.start + late
        for f in day.plant_facts)}
    assert len(before) == len(day.scenario.machines), "every machine's first order made parts before the readings"
    assert min(r.source_timestamp for r in day.readings) >= day.start + late
    publish(inv_settings, day.readings, day.reads)

    run_main(build_flow(inv_settings, day.scenario, follow=False))

    assert confirmed_parts(inv_db) == parts_made(day)
    assert exceptions(inv_db) == []
    assert ledger_stock(inv_db) == physical_stock(day) == erp_stock(inv_db, day.scenario)
    assert inv_db.execute("SELECT count(*) AS n FROM dead_letters").fetchone()["n"] == 0
