"""The GPS fleet: trucks drive the scenario's routes; incidents show in the pings and in the ground truth."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import FLEET_GPS
from millstream.events.fleet import GpsPing
from millstream.masterdata import Scenario, read_scenario
from millstream.serde import decode
from millstream.settings import Settings
from simulators.clock import SimClock
from simulators.config import FleetParameters, SimulationError
from simulators.fleet.route import Route, haversine_m
from simulators.fleet.simulation import FleetSimulation
from simulators.fleet.trip import INCIDENT_KINDS
from simulators.groundtruth import GroundTruth
from simulators.timeline import play
from tests.helpers.kafka import consume_messages
from tests.helpers.paths import ROOT

START = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)


def _pings(sim: FleetSimulation) -> list[tuple[datetime, GpsPing]]:
    return [(e.at, e.event) for e in sim.timeline() if e.event is not None]


def test_same_seed_same_pings(scenario: Scenario) -> None:
    a = _pings(FleetSimulation(scenario, seed=5))
    assert a == _pings(FleetSimulation(scenario, seed=5))
    assert [p.id for _, p in a] == [p.id for _, p in _pings(FleetSimulation(scenario, seed=5))]
    assert a != _pings(FleetSimulation(scenario, seed=6))


def test_trucks_drive_their_routes_at_plausible_speeds_and_arrive(scenario: Scenario) -> None:
    quiet = FleetParameters(traffic_jam=0, breakdown=0, detour=0, gps_dropout=0, buffered_delivery=0, outlier=0)
    sim = FleetSimulation(scenario, seed=1, params=quiet)
    for trip in sim.trips:
        shipment = trip.plan.shipment
        route = Route(shipment.route["coordinates"])
        pings = [p for _, p in trip.pings]
        assert {p.truck_id for p in pings} == {shipment.truck_id}
        moving = [p.speed_kmh for p in pings if p.speed_kmh > 0]
        assert 40 < sum(moving) / len(moving) < 95
        assert max(moving) <= 110
        end = shipment.route["coordinates"][-1]
        last = pings[-1]
        assert haversine_m(last.lon, last.lat, end[0], end[1]) < 50
        gaps = [(b.timestamp - a.timestamp).total_seconds() for a, b in itertools.pairwise(pings)]
        assert set(gaps) == {5.0}
        for p in pings[::50]:  # every fix near the route (no detours configured): within GPS noise
            assert min(haversine_m(p.lon, p.lat, *route.position(d)[:2])
                       for d in range(0, int(route.length_m) + 1, 100)) < 120
        arrival = next(f for f in trip.facts if f.kind == "arrival")
        assert arrival.time == trip.arrival
        assert trip.plan.departure < trip.arrival <= shipment.promised_to + timedelta(minutes=20)


def test_every_incident_kind_appears_in_a_long_run_and_in_ground_truth(scenario: Scenario) -> None:
    sim = FleetSimulation(scenario, seed=2, days=8)
    facts = [e.fact for e in sim.timeline() if e.fact is not None]
    kinds = Counter(f.details["incident"] for f in facts if f.kind == "incident")
    assert set(kinds) == set(INCIDENT_KINDS), kinds
    assert Counter(f.kind for f in facts)["arrival"] == 8 * len(scenario.shipments)
    for trip in sim.trips:
        pings = trip.pings
        for fact in trip.facts:
            if fact.kind != "incident":
                continue
            start, end = datetime.fromisoformat(fact.details["start"]), datetime.fromisoformat(fact.details["end"])
            inside = [p for _, p in pings if start <= p.timestamp < end]
            kind = fact.details["incident"]
            silent = [(datetime.fromisoformat(f.details["start"]), datetime.fromisoformat(f.details["end"]))
                      for f in trip.facts if f.details.get("incident") == "gps_dropout"]
            if kind not in {"gps_dropout", "outlier"} and not inside:
                assert any(s <= start and end <= e for s, e in silent), f"{kind} without pings and no dropout"
                continue
            if kind == "gps_dropout":
                assert not inside, "pings during a GPS dropout"
            elif kind == "breakdown":
                assert inside and all(p.speed_kmh == 0 for p in inside)
            elif kind == "traffic_jam":
                assert inside and sum(p.speed_kmh for p in inside) / len(inside) < 35
            elif kind == "buffered_delivery":
                late = [(at, p) for at, p in pings if start <= p.timestamp < end]
                assert late and all(at >= end - timedelta(seconds=5) for at, _ in late)
                assert all(at > p.timestamp for at, p in late[:-1])
            elif kind == "detour":
                route = Route(trip.plan.shipment.route["coordinates"])
                far = max(min(haversine_m(p.lon, p.lat, *route.position(d)[:2])
                              for d in range(0, int(route.length_m) + 1, 200)) for p in inside[::10])
                assert far > 1000, "a detour must leave the route corridor"
            elif kind == "outlier":
                at = datetime.fromisoformat(fact.details["start"])
                jumped = next(p for _, p in pings if p.timestamp == at)
                neighbour = next(p for _, p in pings if p.timestamp > at)
                assert haversine_m(jumped.lon, jumped.lat, neighbour.lon, neighbour.lat) > 2000


def test_delivery_order_keeps_original_timestamps(scenario: Scenario) -> None:
    sim = FleetSimulation(scenario, seed=2, days=3)
    delivered = [e for e in sim.timeline() if e.event is not None]
    assert [e.at for e in delivered] == sorted(e.at for e in delivered)
    late = [e for e in delivered if e.at > e.event.timestamp]
    assert late, "buffered pings arrive after their fix time"


def test_bad_fleet_settings_are_refused(scenario: Scenario) -> None:
    with pytest.raises(SimulationError, match="no shipments"):
        FleetSimulation(scenario.model_copy(update={"shipments": []}))
    with pytest.raises(SimulationError, match="days"):
        FleetSimulation(scenario, days=0)
    with pytest.raises(SimulationError, match="speed must be a positive"):
        SimClock(START, speed=-2)
    broken = scenario.model_copy(update={"simulation": {"fleet": {"ping_interval_s": 0}}})
    with pytest.raises(SimulationError, match=r"simulation\.fleet\.ping_interval_s"):
        FleetSimulation(broken)


def test_publishes_pings_to_kafka(settings: Settings) -> None:
    create_topics(settings.kafka, [FLEET_GPS])
    scenario = read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)
    sim = FleetSimulation(scenario, seed=3)
    truth = GroundTruth()
    until = START + timedelta(hours=3)
    expected = [e.event for e in sim.timeline() if e.event is not None and e.at <= until]
    producer = EventProducer(settings.kafka)

    async def run() -> None:
        await play(sim.timeline(), SimClock(START, speed=1e9), lambda e: producer.send(FLEET_GPS, e), truth,
                   asyncio.Event(), until=until)

    asyncio.run(run())
    assert producer.flush(30) == 0 and producer.failed == 0
    assert producer.delivered == len(expected) > 1000
    received: list[GpsPing] = []
    for msg in consume_messages(settings, FLEET_GPS.full_name(settings.kafka), len(expected), timeout_s=60):
        ping = decode(msg.value(), GpsPing, time_policy=None)
        assert msg.key().decode() == ping.truck_id
        received.append(ping)
    assert sorted(p.id for p in received) == sorted(p.id for p in expected)
    assert {f.kind for f in truth.facts} >= {"departure", "arrival"}
