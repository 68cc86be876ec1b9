"""The logistics flow on the real broker and database, fed a simulated fleet day (with its ground truth) plus
bad input: milestones where the trucks really departed and arrived, ETA updates only when the ETA moved,
delay / offline alerts where the truth says so, outliers kept out of the truck's way, dead letters with
reasons — and a second run over the same topic adds nothing."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from bytewax.testing import run_main

from connectors.kafka.topics import FLEET_GPS
from millstream.masterdata import Scenario
from millstream.settings import Settings
from simulators.groundtruth import Fact
from streams.logistics import build_flow
from tests.helpers.logistics import START, demo_day, produce


def expected_offline(deliveries: list[tuple[datetime, Any]], facts: list[Fact], settings: Settings) -> set[str]:
    """Trucks that, between departure and arrival, sent nothing while another truck's pings delivered in the
    meantime reached their last timestamp + offline_after (+ the allowed lateness): from the timeline alone."""
    on_road = {}
    for f in facts:
        if f.kind in ("departure", "arrival"):
            on_road.setdefault(f.subject, {})[f.kind] = f.time
    silent_for = timedelta(minutes=settings.logistics.offline_after_min, seconds=settings.logistics.allowed_lateness_s)
    last: dict[str, datetime] = {}
    expected = set()
    for _, ping in deliveries:
        for truck, seen in last.items():
            window = on_road.get(truck, {})
            if (truck != ping.truck_id and window and window["departure"] <= seen < window["arrival"]
                    and ping.timestamp >= seen + silent_for):
                expected.add(truck)
        last[ping.truck_id] = max(ping.timestamp, last.get(ping.truck_id, ping.timestamp))
    return expected


def offline_alerts(alerts: list[dict[str, Any]]) -> set[str]:
    return {a["subject_id"] for a in alerts if a["alert_type"] == "truck.offline"}




def bad_pings() -> list[bytes]:
    at = (START + timedelta(hours=3)).isoformat()
    return [
        orjson.dumps({"truck_id": "TRK-404", "lat": 53.4, "lon": -2.9, "timestamp": at}),  # unknown truck
        orjson.dumps({"truck_id": "TRK-99", "lat": 53.4, "lon": -2.9, "timestamp": at}),  # no shipment
        orjson.dumps({"truck_id": "TRK-01", "lat": 95.0, "lon": -2.9, "timestamp": at}),  # out of range
        b'{"truck_id": "TRK-01", "lat": NaN, "lon": -2.9, "timestamp": "' + at.encode() + b'"}',  # NaN
    ]


def snapshot(db: psycopg.Connection, ids: list[str]) -> dict[str, Any]:
    q = {
        "milestones": "SELECT shipment_id, milestone, at FROM shipment_milestones WHERE shipment_id = ANY(%s) "
                      "ORDER BY shipment_id, at",
        "state": "SELECT shipment_id, status, as_of, eta FROM shipment_state WHERE shipment_id = ANY(%s) "
                 "ORDER BY shipment_id",
        "outbox": "SELECT event_id, record_type, subject_id, occurred_at, record FROM erp_outbox "
                  "WHERE subject_id = ANY(%s) ORDER BY seq",
        "alerts": "SELECT id, alert_type, subject_id, state, opened_at, severity FROM alerts "
                  "WHERE domain = 'logistics' AND (subject_id = ANY(%s) OR subject_id LIKE 'TRK-0_') ORDER BY id",
        "positions": "SELECT quality, count(*) AS n FROM truck_positions WHERE shipment_id = ANY(%s) "
                     "GROUP BY quality ORDER BY quality",
    }
    out = {name: db.execute(query, (ids,)).fetchall() for name, query in q.items()}
    db.rollback()
    return out


@pytest.fixture(scope="module")
def day() -> tuple[Scenario, list[Any], list[Fact], list[tuple[datetime, Any]]]:
    return demo_day()


def test_flow_tracks_the_simulated_day(settings: Settings, db: psycopg.Connection,
                                       day: tuple[Scenario, list[Any], list[Fact], list[tuple[datetime, Any]]]
                                       ) -> None:
    scenario, pings, facts, deliveries = day
    produce(settings, pings, bad_pings())
    run_main(build_flow(settings, scenario, follow=False))
    ids = [sh.id for sh in scenario.shipments]
    first = snapshot(db, ids)

    milestones = {(r["shipment_id"], r["milestone"]): r["at"] for r in first["milestones"]}
    for fact in facts:
        sid = fact.details.get("shipment_id")
        if fact.kind == "departure":  # the truck leaves the origin site's fence soon after it starts to drive
            assert timedelta(0) <= milestones[(sid, "departed")] - fact.time <= timedelta(minutes=3), sid
        if fact.kind == "arrival":  # the route ends inside the destination fence: entered shortly before
            assert timedelta(0) <= fact.time - milestones[(sid, "arrived")] <= timedelta(minutes=5), sid
    assert {r["shipment_id"]: r["status"] for r in first["state"]} == dict.fromkeys(ids, "delivered")
    for sid in ids:
        times = [milestones[(sid, m)] for m in ("at_origin", "departed", "in_transit", "arrived", "delivered")]
        assert times == sorted(times), sid

    records = first["outbox"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_type.setdefault(r["record_type"], []).append(r["record"])
    assert len(by_type["shipment.status_change"]) == len(by_type["shipment.milestone"]) == 5 * len(ids)
    for sid in ids:  # ETA updates only when the ETA moved by more than eta_publish_s
        etas = [datetime.fromisoformat(r["payload"]["eta"]) for r in by_type["shipment.eta_update"]
                if r["subject_id"] == sid]
        assert etas, sid
        assert all(abs((b - a).total_seconds()) > settings.logistics.eta_publish_s for a, b in itertools.pairwise(etas))
    in_transit = sum(1 for p in pings if p.speed_kmh > 0)
    assert len(by_type["shipment.eta_update"]) < in_transit / 20

    # Every shipment that really arrived past its window + tolerance was flagged, early (>= 10 min before it
    # arrived); a delay alert may also come from a predicted delay the truck then made up. Delivered: cleared.
    arrivals = {f.details["shipment_id"]: f for f in facts if f.kind == "arrival"}
    late = {sid for sid, f in arrivals.items() if f.details["late_minutes"] > settings.logistics.delay_tolerance_min}
    assert late
    delays = {a["subject_id"]: a for a in first["alerts"] if a["alert_type"] == "shipment.delay"}
    assert late <= set(delays)
    for sid in late:
        assert delays[sid]["opened_at"] <= arrivals[sid].time - timedelta(minutes=10), sid
    assert all(a["state"] == "cleared" for a in delays.values())
    delay_records = by_type.get("shipment.delay", [])
    assert {r["subject_id"] for r in delay_records} == set(delays)
    for sid in delays:
        states = [r["payload"]["state"] for r in delay_records if r["subject_id"] == sid]
        assert states[0] == "open" and states[-1] == "cleared", (sid, states)

    assert offline_alerts(first["alerts"]) == expected_offline(deliveries, facts, settings)
    assert all(a["state"] == "cleared" for a in first["alerts"] if a["alert_type"] == "truck.offline")

    outliers = [f for f in facts if f.kind == "incident" and f.details["incident"] == "outlier"]
    assert {r["quality"]: r["n"] for r in first["positions"]}.get("outlier", 0) == len(outliers)

    letters = db.execute("SELECT reason FROM dead_letters WHERE source_topic = %s OR stage = %s",
                         (FLEET_GPS.full_name(settings.kafka), "logistics.logistics_truck")).fetchall()
    db.rollback()
    reasons = " | ".join(sorted(r["reason"] for r in letters))
    assert "unknown truck 'TRK-404'" in reasons
    assert "'TRK-99' has no open shipment" in reasons
    assert "lat: Input should be less than or equal to 90" in reasons
    assert "malformed JSON" in reasons  # the NaN one: JSON has no NaN
    assert len(letters) == 4, reasons

    run_main(build_flow(settings, scenario, follow=False))  # a restart that re-reads the topic: nothing new
    assert snapshot(db, ids) == first
