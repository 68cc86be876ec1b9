"""The ground-truth scorecard on small hand-made facts and decisions; every expected figure is worked out by
hand in the comments (T0 = Monday 00:00 UTC, ``now`` = one week later)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from millstream.inventory.catalog import Catalog
from millstream.masterdata import read_scenario
from millstream.scorecard import (
    AlertRow,
    EtaRow,
    ExceptionRow,
    Inputs,
    MilestoneRow,
    ProductionRow,
    ScoreRow,
    ShipmentRow,
    StockRow,
    TruthFact,
    compute,
    physical_stock,
    quiet_instant,
    settle_for,
)
from millstream.settings import InventorySettings
from tests.helpers.paths import DEMO

T0 = datetime(2026, 3, 2, tzinfo=UTC)
NOW = T0 + timedelta(days=7)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def plant(hours: float, kind: str, machine: str = "M1", **details: object) -> TruthFact:
    return TruthFact(h(hours), kind, machine, details, "plant")


def maintenance_inputs() -> Inputs:
    facts = [plant(0, "order_started"), plant(10, "degradation_onset"), plant(20, "failure"),
             plant(22, "repaired"), plant(40, "degradation_onset"), plant(50, "failure"), plant(52, "repaired"),
             plant(0, "order_started", "M2")]
    alerts = [AlertRow("maintenance.failure_risk", "maintenance", "machine", "M1", h(15)),  # detects failure 1
              AlertRow("maintenance.failure_risk", "maintenance", "machine", "M1", h(18)),  # same span: nothing more
              AlertRow("maintenance.failure_risk", "maintenance", "machine", "M1", h(21)),  # while down: late
              AlertRow("maintenance.failure_risk", "maintenance", "machine", "M1", h(5)),  # healthy: false
              AlertRow("maintenance.failure_risk", "maintenance", "machine", "M2", h(30)),  # never fails: false
              AlertRow("shipment.delay", "logistics", "shipment", "M1", h(16))]  # another domain: ignored
    scores = [ScoreRow("M1", h(19), rul=2.0, p_fail=0.8, horizon=1.0),  # ttf 1 h (degrading), y=1
              ScoreRow("M1", h(21), rul=0.0, p_fail=0.9, horizon=1.0),  # down: left out
              ScoreRow("M1", h(30), rul=10.0, p_fail=0.1, horizon=1.0),  # ttf 20 h (healthy), y=0
              ScoreRow("M2", h(100), rul=3.0, p_fail=0.3, horizon=1.0),  # no failure ahead: no RUL; y=0
              ScoreRow("M2", NOW - timedelta(minutes=30), rul=3.0, p_fail=0.5, horizon=1.0),  # censored
              ScoreRow("M1", h(19), rul=2.0, p_fail=0.8, horizon=1.0, rul_unit="cycles")]  # not hours
    return Inputs(now=NOW, facts=facts, alerts=alerts, scores=scores)


def test_maintenance_figures() -> None:
    card = compute(maintenance_inputs())["maintenance"]
    assert card["failures"] == 2
    assert card["failures_alerted_share"] == {"value": 0.5, "n": 2}  # failure 1 alerted, failure 2 not
    assert card["lead_share_median"] == {"value": 0.5, "n": 1}  # (20 - 15) / (20 - 10)
    assert card["lead_hours_median"] == {"value": 5.0, "n": 1}
    assert card["false_alerts"] == 2 and card["late_alerts"] == 1
    assert card["machine_weeks"] == 2.0  # M1 and M2, each observed from T0 to now
    assert card["false_alerts_per_machine_week"] == {"value": 1.0, "n": 2}
    assert card["rul_mae_hours"] == {"value": 5.5, "n": 2}  # |2 - 1| and |10 - 20|
    assert card["rul_mae_hours_degrading"] == {"value": 1.0, "n": 1}
    assert card["brier"] == {"value": 0.0467, "n": 3}  # (0.04 + 0.01 + 0.09) / 3
    bins = {b["bin"]: b for b in card["reliability"] if b["n"]}
    assert {i: (b["mean_p"], b["observed"], b["n"]) for i, b in bins.items()} == {
        1: (0.1, 0.0, 1), 3: (0.3, 0.0, 1), 8: (0.8, 1.0, 1)}
    assert len(card["reliability"]) == 10


def test_inventory_figures() -> None:
    facts = [TruthFact(h(1), "tag_pass", "RDR-DOCK", {"material_id": "MAT-A", "location_id": "LOC-1", "missed": True},
                       "gates"),
             TruthFact(h(1), "tag_pass", "RDR-DOCK", {"material_id": "MAT-B", "location_id": "LOC-1",
                                                       "missed": False}, "gates"),
             *(plant(1 + i / 10, "part_made", order_id="PO-1", scrap=False) for i in range(3)),
             plant(1.5, "part_made", order_id="PO-1", scrap=True),  # scrap: not a good part
             *(plant(2 + i / 10, "part_made", order_id="PO-2", scrap=False) for i in range(2)),
             TruthFact(NOW - timedelta(minutes=1), "part_made", "M1", {"order_id": "PO-2", "scrap": False})]  # settling
    exceptions = [ExceptionRow("MAT-A", "LOC-1", h(2)),  # after the missed read of MAT-A at LOC-1: a cause
                  ExceptionRow("MAT-A", "LOC-1", h(0.5)),  # before it: none
                  ExceptionRow("MAT-B", "LOC-1", h(3))]  # MAT-B's read was not missed
    production = [ProductionRow("PO-1", h(2), 3), ProductionRow("PO-2", h(3), 1), ProductionRow("PO-3", h(3), 2),
                  ProductionRow("PO-2", NOW - timedelta(seconds=30), 1)]  # settling: not compared
    card = compute(Inputs(now=NOW, facts=facts, exceptions=exceptions, production=production))["inventory"]
    assert (card["stock_exceptions"], card["with_physical_cause"], card["without_physical_cause"]) == (3, 1, 2)
    assert card["missed_reads"] == 1
    assert card["orders"] == 3 and card["parts_made"] == 5 and card["parts_confirmed"] == 6
    assert card["orders_matching_share"] == {"value": 0.3333, "n": 3}  # PO-1 only (PO-2: 1 of 2, PO-3: 2 of 0)
    assert card["production_mae_parts"] == {"value": 1.0, "n": 3}  # (0 + 1 + 2) / 3
    assert card["per_order"][1] == {"order_id": "PO-2", "made": 2, "confirmed": 1}


def trip(shipment: str, day: int, departure: float, arrival: float | None, promised_to: float) -> list[TruthFact]:
    ids = {"shipment_id": shipment, "truck_id": "TRK-1", "day": day}
    facts = [TruthFact(h(departure), "departure", "TRK-1", ids, "fleet")]
    if arrival is not None:
        late = max(0.0, (arrival - promised_to) * 60)
        facts.append(TruthFact(h(arrival), "arrival", "TRK-1", {**ids, "promised_to": h(promised_to).isoformat(),
                                                                 "late_minutes": late}, "fleet"))
    return facts


def test_logistics_figures() -> None:
    minute = timedelta(minutes=1)
    facts = [*trip("SH-1", 0, 8, 12, 11),  # late by an hour
             *trip("SH-1", 1, 32, 36, 35),  # the next day's repeat: not the pipeline's shipment
             *trip("SH-2", 0, 8, 10, 11),  # on time
             *trip("SH-3", 0, 9, None, 200)]  # still on the road
    shipments = [ShipmentRow("SH-1", h(11), "delivered"), ShipmentRow("SH-2", h(11), "arrived"),
                 ShipmentRow("SH-3", h(200), "in_transit"), ShipmentRow("SH-4", h(200), "departed")]
    milestones = [MilestoneRow("SH-1", "departed", h(8) + timedelta(seconds=60)),
                  MilestoneRow("SH-1", "arrived", h(12) - timedelta(seconds=30)),
                  MilestoneRow("SH-2", "departed", h(8) + timedelta(seconds=120)),
                  MilestoneRow("SH-2", "arrived", h(10) + timedelta(seconds=30)),
                  MilestoneRow("SH-3", "departed", h(9))]
    etas = [EtaRow("SH-1", h(7), h(20), h(20)),  # before departure: never used
            EtaRow("SH-1", h(8.5), h(12) + 10 * minute, h(11.5)),  # at 25 %: 10 min off, naive 30
            EtaRow("SH-1", h(9.5), h(12) - 6 * minute),  # at 50 % and 75 %: 6 min off, no naive
            EtaRow("SH-2", h(7.5), h(9)),  # before departure
            EtaRow("SH-2", h(9), h(10) + 4 * minute, h(10) + 20 * minute),  # at 50 % and 75 % (25 % has none)
            EtaRow("SH-3", h(167), h(200))]  # the newest of a shipment on the road: an hour old
    alerts = [AlertRow("shipment.delay", "logistics", "shipment", "SH-1", h(10)),  # right
              AlertRow("shipment.delay", "logistics", "shipment", "SH-2", h(9.5)),  # wrong
              AlertRow("shipment.delay", "logistics", "shipment", "SH-3", h(100)),  # not arrived: not judged
              AlertRow("shipment.route_deviation", "logistics", "shipment", "SH-2", h(9))]  # another type
    card = compute(Inputs(now=NOW, facts=facts, shipments=shipments, milestones=milestones, etas=etas,
                          alerts=alerts))["logistics"]
    assert (card["trips"], card["trips_arrived"], card["late_trips"]) == (3, 2, 1)
    assert card["milestone_error_s"] == {
        "departed": {"mae": {"value": 60.0, "n": 3}, "bias": {"value": 60.0, "n": 3}},  # 60, 120, 0
        "arrived": {"mae": {"value": 30.0, "n": 2}, "bias": {"value": 0.0, "n": 2}}}  # -30, +30
    assert card["eta_error_by_progress"] == {
        "25": {"eta_mae_min": {"value": 10.0, "n": 1}, "naive_mae_min": {"value": 30.0, "n": 1}},
        "50": {"eta_mae_min": {"value": 5.0, "n": 2}, "naive_mae_min": {"value": 20.0, "n": 1}},
        "75": {"eta_mae_min": {"value": 5.0, "n": 2}, "naive_mae_min": {"value": 20.0, "n": 1}}}
    assert card["delay_alert_precision"] == {"value": 0.5, "n": 2}
    assert card["delay_alert_recall"] == {"value": 1.0, "n": 1}
    assert card["eta_age_s"] == {"median": {"value": 3600.0, "n": 1}, "max": {"value": 3600.0, "n": 1},
                                 "on_the_road_without_eta": 1}


def test_no_data_gives_null_figures_never_made_up_numbers() -> None:
    card = compute(Inputs(now=NOW))
    assert card["facts"] == 0
    m, i, lg = card["maintenance"], card["inventory"], card["logistics"]
    for figure in (m["failures_alerted_share"], m["lead_share_median"], m["false_alerts_per_machine_week"],
                   m["rul_mae_hours"], m["brier"], i["orders_matching_share"], i["production_mae_parts"],
                   lg["delay_alert_precision"], lg["delay_alert_recall"], lg["eta_age_s"]["median"],
                   lg["eta_error_by_progress"]["50"]["eta_mae_min"], lg["milestone_error_s"]["arrived"]["mae"]):
        assert figure == {"value": None, "n": 0}
    assert i["with_physical_cause"] is None and i["without_physical_cause"] is None and i["missed_reads"] is None
    assert all(b["n"] == 0 and b["mean_p"] is None for b in m["reliability"])


def test_an_alert_on_a_machine_still_degrading_is_pending_not_false() -> None:
    # M3 degrades from 100 h and has not failed by now (168 h): its alert at 120 h is neither true nor false yet;
    # M4's alert at 120 h comes with no degradation under way: false.
    facts = [plant(0, "order_started", "M3"), plant(100, "degradation_onset", "M3"), plant(0, "order_started", "M4")]
    alerts = [AlertRow("maintenance.failure_risk", "maintenance", "machine", "M3", h(120)),
              AlertRow("maintenance.failure_risk", "maintenance", "machine", "M4", h(120))]
    card = compute(Inputs(now=NOW, facts=facts, alerts=alerts))["maintenance"]
    assert card["pending_alerts"] == 1
    assert card["false_alerts"] == 1
    assert card["failures"] == 0


def test_production_in_flight_for_the_ordering_wait_is_not_compared() -> None:
    # settle_for: the inventory flow may hold a movement order_wait_s (300 s) of event time, plus 2 min: a part
    # made 6 min before now, not yet confirmed, is still in flight; one made 8 min before now is compared.
    settle = settle_for(InventorySettings())
    assert settle == timedelta(minutes=7)
    facts = [TruthFact(NOW - timedelta(minutes=8), "part_made", "M1", {"order_id": "PO-1"}, "plant"),
             TruthFact(NOW - timedelta(minutes=6), "part_made", "M1", {"order_id": "PO-1"}, "plant")]
    production = [ProductionRow("PO-1", NOW - timedelta(minutes=7, seconds=30), 1.0)]
    card = compute(Inputs(now=NOW, facts=facts, production=production, settle=settle))["inventory"]
    assert card["parts_made"] == 1 and card["parts_confirmed"] == 1


def test_ledger_against_the_physical_stock_of_the_facts() -> None:
    catalog = Catalog(read_scenario(DEMO))
    shafts = {"material_id": "SF-SHAFT", "quantity": 10.0, "from_location_id": "LIV-WH",
              "to_location_id": "LIV-LINE-B"}
    facts = [TruthFact(h(1), "tag_pass", "RDR-LIV-LINE-B", shafts, "gates"),
             TruthFact(h(2), "part_made", "CNC-01", {"order_id": "PO-1", "product_id": "SF-SHAFT",
                                                      "location_id": "LIV-LINE-A", "scrap": False}, "plant"),
             TruthFact(h(3), "part_made", "CNC-01", {"order_id": "PO-1", "product_id": "SF-SHAFT",
                                                      "location_id": "LIV-LINE-A", "scrap": True}, "plant"),
             TruthFact(h(4) - timedelta(seconds=3), "tag_pass", "RDR-LIV-LINE-B", shafts, "gates")]
    # at h(4) the second pass is 3 s old: its reads may not all be in, so the comparison steps back 7 s
    at = quiet_instant(facts, h(4))
    assert at == h(4) - timedelta(seconds=7)
    physical = physical_stock(facts, catalog, at)
    # opening 400 shafts in LIV-WH and 60 at LIV-LINE-B; 10 moved; one good shaft received into LIV-WH
    assert physical[("SF-SHAFT", "LIV-WH")] == Decimal(391)
    assert physical[("SF-SHAFT", "LIV-LINE-B")] == Decimal(70)
    # each part, good or scrap, consumed 1.8 kg of bar with its 5 % scrap factor: the opening 300 less 2 x 1.89
    assert physical[("RM-STEEL-BAR", "LIV-LINE-A")] == Decimal("296.22")
    ledger = [StockRow(m, loc, q) for (m, loc), q in physical.items()]
    card = compute(Inputs(now=h(5), facts=facts, catalog=catalog, ledger=ledger, stock_at=at))["inventory"]
    assert card["ledger_vs_physical"]["mismatched"] == 0 and card["ledger_vs_physical"]["cells"] == len(physical)
    short = [StockRow(r.material_id, r.location_id, r.quantity - (r.material_id == "SF-SHAFT"
                                                                   and r.location_id == "LIV-LINE-B"))
             for r in ledger]
    card = compute(Inputs(now=h(5), facts=facts, catalog=catalog, ledger=short, stock_at=at))["inventory"]
    assert card["ledger_vs_physical"]["mismatches"] == [
        {"material_id": "SF-SHAFT", "location_id": "LIV-LINE-B", "ledger": 69.0, "physical": 70.0}]
    assert compute(Inputs(now=h(5), facts=facts))["inventory"]["ledger_vs_physical"] is None


def test_a_trip_late_within_the_delay_tolerance_is_not_a_missed_delay() -> None:
    # SH-5 arrives 5 min after its window, SH-6 40 min after; the rule alerts beyond 15 min: SH-6's alert is
    # right and SH-5 needed none. With a tolerance of 0 every late arrival counts and SH-5 is a missed delay.
    facts = [*trip("SH-5", 0, 8, 11 + 5 / 60, 11), *trip("SH-6", 0, 8, 11 + 40 / 60, 11)]
    shipments = [ShipmentRow("SH-5", h(11), "arrived"), ShipmentRow("SH-6", h(11), "arrived")]
    alerts = [AlertRow("shipment.delay", "logistics", "shipment", "SH-6", h(10.5))]
    card = compute(Inputs(now=NOW, facts=facts, shipments=shipments, alerts=alerts))["logistics"]
    assert (card["late_trips"], card["late_trips_any"], card["delay_tolerance_min"]) == (1, 2, 15.0)
    assert card["delay_alert_precision"] == card["delay_alert_recall"] == {"value": 1.0, "n": 1}
    strict = compute(Inputs(now=NOW, facts=facts, shipments=shipments, alerts=alerts,
                            delay_tolerance=timedelta(0)))["logistics"]
    assert strict["delay_alert_recall"] == {"value": 0.5, "n": 2}
