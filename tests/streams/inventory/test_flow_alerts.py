"""The inventory flow on hand-made input (real broker and database): the reorder alert is raised once and
cleared after the line-side receipt, with one ERP reorder proposal; bad input becomes dead letters with
reasons and the flow goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg

from millstream.epc import encode_sgtin96
from millstream.events import RfidRead, SensorReading
from millstream.masterdata import read_scenario
from millstream.settings import Settings
from streams.inventory import build_flow
from streams.runner import run_flow
from tests.helpers.inventory import publish
from tests.helpers.paths import DEMO

# All within one hour of event time, so the hourly demand statistics (and the reorder point) stay put.
BASE = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=5, second=0, microsecond=0)
CRATE = "04012345050011"


def at(minutes: float) -> datetime:
    return BASE + timedelta(minutes=minutes)


def counters(minutes: float, good: int, machine: str = "ASSY-02", order: str | None = None) -> list[SensorReading]:
    readings = [SensorReading(machine_id=machine, tag="good_parts", value=good, source_timestamp=at(minutes))]
    if order is not None:
        readings.append(SensorReading(machine_id=machine, tag="active_order", value=order,
                                      source_timestamp=at(minutes)))
    return readings


def test_reorder_alert_raised_once_cleared_after_receipt_and_bad_input_dead_lettered(
        inv_settings: Settings, inv_db: psycopg.Connection, tmp_path: Path) -> None:
    # PK-CRATE at LIV-LINE-B: opening 40, reorder point 20, max 100, multiple 10; a gearbox takes one crate.
    readings = [*counters(0, 0, order="PO-1016"), *counters(10, 8), *counters(20, 16), *counters(30, 22),
                *counters(32, 23), *counters(34, 24)]
    crates = [encode_sgtin96(CRATE, serial, 7) for serial in range(1, 21)]
    reads = [RfidRead(reader_id="RDR-LIV-LINE-B", antenna=1 + i % 4, epc=epc, rssi_dbm=-50 - i % 7,
                      timestamp=at(45) + timedelta(seconds=i % 3))
             for i, epc in enumerate(crates) for _ in range(2)]
    bad_reads = [RfidRead(reader_id="RDR-LIV-LINE-B", antenna=1, epc="E2801160600002054A1B2C3D", rssi_dbm=-50,
                          timestamp=at(46)),
                 RfidRead(reader_id="RDR-ATTIC", antenna=1, epc=crates[0], rssi_dbm=-50, timestamp=at(46))]
    bad_readings = [*counters(0, 0, machine="PRESS-9"), *counters(1, 1, machine="PRESS-9"),
                    *counters(0, 100, machine="CNC-01", order="PO-1001"),
                    *counters(1, 5000, machine="CNC-01"), *counters(2, 5001, machine="CNC-01")]
    scenario = read_scenario(DEMO)
    # Two sittings of the flow, resuming from its recovery state: consumption first, then the receipt.
    publish(inv_settings, [*readings, *bad_readings], bad_reads)
    run_flow(build_flow(inv_settings, scenario, follow=False), recovery_dir=tmp_path)
    publish(inv_settings, counters(50, 27), reads)
    run_flow(build_flow(inv_settings, scenario, follow=False), recovery_dir=tmp_path)

    stock = inv_db.execute("SELECT sum(quantity) AS q FROM stock_lots WHERE material_id = 'PK-CRATE' AND "
                           "location_id = 'LIV-LINE-B'").fetchone()["q"]
    assert stock == 40 - 27 + 20
    alerts = inv_db.execute("SELECT * FROM alerts WHERE alert_type = 'reorder_point' AND subject_id = "
                            "'PK-CRATE@LIV-LINE-B'").fetchall()
    assert len(alerts) == 1, [(a["state"], a["opened_at"], a["evidence"]) for a in alerts]
    alert = alerts[0]
    assert (alert["state"], alert["trigger_count"], alert["domain"]) == ("cleared", 1, "inventory")
    assert alert["opened_at"] == at(30)  # 40 - 22 = 18 < 20
    assert alert["cleared_at"] >= at(45)  # the crates arrived at the line side
    proposals = inv_db.execute("SELECT record FROM erp_outbox WHERE record_type = 'inventory.reorder_proposal' "
                               "AND subject_id = 'PK-CRATE@LIV-LINE-B'").fetchall()
    assert [p["record"]["payload"]["quantity"] for p in proposals] == [80.0]  # 18 -> at most 100, by 10
    assert inv_db.execute("SELECT closed_at FROM reorder_proposals WHERE material_id = 'PK-CRATE'"
                          ).fetchone()["closed_at"] is not None

    letters = {r["error_type"]: r["reason"] for r in inv_db.execute(
        "SELECT error_type, reason FROM dead_letters WHERE stage LIKE 'inventory.%'").fetchall()}
    assert set(letters) == {"invalid_epc", "unknown_reader", "unknown_machine", "implausible_counter_jump"}
    assert "'PRESS-9' is not in the master data" in letters["unknown_machine"]
    assert "from 100 to 5000" in letters["implausible_counter_jump"]
    # CNC-01 went on after the jump: 5000 -> 5001 is one part of PO-1001 (1.8 kg x 1.05 of steel bar).
    steel = inv_db.execute("SELECT sum(quantity) AS q FROM stock_movements WHERE movement_type = 'backflush' "
                           "AND machine_id = 'CNC-01'").fetchone()["q"]
    assert steel == Decimal("1.890")
