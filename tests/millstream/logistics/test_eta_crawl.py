"""A truck crawling or stopped short of its destination (the issue "Truth": SHP-5004's ETA froze at 12:24 and
stayed "on time" while the truck crawled at 5-9 km/h for 20 minutes). Whatever the truck does on the road, the
shipment's ETA is recomputed at least every 2 simulated minutes, as of the ping it was computed from, and never
lies before that ping; a remaining distance at (almost) no speed pushes the ETA on instead of freezing it; and a
crawl that will miss the promised window raises ``shipment.delay`` through the shared alert lifecycle before the
truck arrives."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from millstream.alert_lifecycle import AlertLifecycle
from millstream.events import GpsPing
from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.logistics.outputs import AlertCondition, EtaRow, MilestoneRow, PositionRow, ShipmentSnapshot
from millstream.logistics.rules import alert_rules
from millstream.logistics.truck import DELAY, Logistics, TruckState
from millstream.masterdata import Scenario, read_scenario
from millstream.settings import LogisticsSettings
from simulators.fleet.route import Route
from tests.helpers.paths import ROOT

SHIPMENT = "SHP-5004"  # DC-MAN -> PLANT-LIV, the shipment of the issue
STEP = timedelta(seconds=5)
EVERY = timedelta(minutes=2)


@dataclass
class Drive:
    pings: list[GpsPing]
    crawl: tuple[datetime, datetime]  # when the truck crawled (or stood), with the rest of the route ahead
    arrival: datetime  # end of the route


def drive(scenario: Scenario, depart: datetime, crawl_at: float, crawl_min: float, crawl_kmh: tuple[float, float],
          seed: int = 0) -> Drive:
    """TRK-04 loads at the origin for 20 minutes, drives the route (35 km/h near the sites, 85 between them),
    crawls at ``crawl_kmh`` for ``crawl_min`` minutes from ``crawl_at`` of the way on, drives on and dwells at
    the destination: one ping every 5 s, with a few metres of GPS noise."""
    rng = random.Random(seed)
    shipment = next(sh for sh in scenario.shipments if sh.id == SHIPMENT)
    route = Route(shipment.route["coordinates"])

    def ping(at: datetime, distance: float, kmh: float) -> GpsPing:
        lon, lat, heading = route.position(distance)
        lon, lat = route.displaced(lon, lat, rng.gauss(0, 3), rng.gauss(0, 3))
        return GpsPing.model_validate({"truck_id": shipment.truck_id, "lat": round(lat, 6), "lon": round(lon, 6),
                                       "speed_kmh": round(kmh, 1), "heading_deg": round(heading, 1),
                                       "timestamp": at}, context=WITHOUT_TIME_CHECK)

    pings, t = [], depart - timedelta(minutes=20)
    while t < depart:
        pings.append(ping(t, 0.0, 0.0))
        t += STEP
    distance, crawl_from, crawl_to = 0.0, None, None
    while distance < route.length_m:
        if crawl_from is None and distance >= crawl_at * route.length_m:
            crawl_from, crawl_to = t, t + timedelta(minutes=crawl_min)
        if crawl_from is not None and crawl_to is not None and crawl_from <= t < crawl_to:
            kmh = rng.uniform(*crawl_kmh)
        else:
            kmh = 35.0 if min(distance, route.length_m - distance) < 3000 else 85.0
        distance = min(route.length_m, distance + kmh / 3.6 * STEP.total_seconds())
        t += STEP
        pings.append(ping(t, distance, kmh))
    arrival = t
    while t < arrival + timedelta(minutes=15):
        t += STEP
        pings.append(ping(t, route.length_m, 0.0))
    assert crawl_from is not None and crawl_to is not None and crawl_to < arrival
    return Drive(pings, (crawl_from, crawl_to), arrival)


def play(scenario: Scenario, pings: list[GpsPing], params: LogisticsSettings) -> tuple[list[list[Any]], list[Any]]:
    """The outputs of each ping (as the flow writes them: together), and the delay alert's changes from the
    shared lifecycle."""
    logistics, state = Logistics(scenario, params), TruckState()
    lifecycle, track, outputs, changes = AlertLifecycle(alert_rules(params)[DELAY]), None, [], []
    for p in pings:
        outputs.append(logistics.on_ping(state, p))
        for item in outputs[-1]:
            if isinstance(item, AlertCondition) and item.alert_type == DELAY:
                track, new = lifecycle(track, item.condition)
                changes += new
    return outputs, changes


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    base = read_scenario(ROOT / "scenarios" / "demo.yaml")
    return base.model_copy(update={"shipments": [sh for sh in base.shipments if sh.id == SHIPMENT]})


@pytest.mark.parametrize("crawl_kmh", [(5.0, 9.0), (0.0, 0.0)], ids=["crawl-5-9-kmh", "standing"])
def test_the_eta_moves_on_while_the_truck_crawls_and_the_delay_alert_rises(
        scenario: Scenario, crawl_kmh: tuple[float, float]) -> None:
    params = LogisticsSettings()
    promised_to = next(sh for sh in scenario.shipments if sh.id == SHIPMENT).promised_to
    # leave so that the undisturbed drive arrives 10 minutes inside the window; then a 40-minute crawl at 60 %
    # of the way makes it about half an hour late
    undisturbed = drive(scenario, promised_to, 0.6, 0.0, (85.0, 85.0))
    depart = promised_to - (undisturbed.arrival - promised_to) - timedelta(minutes=10)
    trip = drive(scenario, depart, 0.6, 40.0, crawl_kmh)
    assert trip.arrival - promised_to > timedelta(minutes=params.delay_tolerance_min + 10)
    batches, changes = play(scenario, trip.pings, params)
    outputs = [item for batch in batches for item in batch]

    milestones = {m.milestone: m.at for m in outputs if isinstance(m, MilestoneRow)}
    departed, arrived = milestones["departed"], milestones["arrived"]
    # every usable ping on the road: the shipment's stored state and ETA history are at most 2 minutes old
    # (as of a ping) and the ETA shown is not before the ping
    latest: ShipmentSnapshot | None = None
    history: EtaRow | None = None
    checked = 0
    for batch in batches:
        for item in batch:
            if isinstance(item, ShipmentSnapshot) and item.eta is not None:
                assert item.eta.eta >= item.as_of, item
                latest = item
            elif isinstance(item, EtaRow):
                history = item
        for row in batch:
            if not (isinstance(row, PositionRow) and row.quality == "ok" and departed + EVERY < row.ping.timestamp
                    < arrived):
                continue
            at = row.ping.timestamp
            assert latest is not None and history is not None
            assert latest.status in ("departed", "in_transit")
            assert at - latest.as_of <= EVERY, (at, latest.as_of)
            assert at - history.eta.at <= EVERY, (at, history.eta.at)
            assert latest.eta is not None and latest.eta.eta >= at, (at, latest.eta.eta)
            checked += 1
    assert checked > 500

    # while crawling the ETA moves on with the clock: the crawl costs ~38 minutes of driving
    start, end = trip.crawl
    during = [r.eta for r in outputs if isinstance(r, EtaRow) and start <= r.eta.at <= end]
    assert len(during) >= (end - start) / EVERY
    assert all(b.eta >= a.eta - timedelta(seconds=30) for a, b in itertools.pairwise(during))
    assert during[-1].eta - during[0].eta >= timedelta(minutes=25)

    # and the delay alert rises through the shared lifecycle while the truck still crawls, well before it arrives
    opened = [a for a in changes if a.state == "open"]
    assert opened, [c for c in outputs if isinstance(c, AlertCondition) and c.alert_type == DELAY][-5:]
    assert start < opened[0].opened_at <= end
    assert opened[0].opened_at <= arrived - timedelta(minutes=10)
    assert changes[-1].state == "cleared"  # on delivery


def test_no_delay_alert_for_a_truck_that_keeps_its_window(scenario: Scenario) -> None:
    """The control: the same trip without the crawl arrives inside the window: no delay alert at all."""
    params = LogisticsSettings()
    promised_to = next(sh for sh in scenario.shipments if sh.id == SHIPMENT).promised_to
    undisturbed = drive(scenario, promised_to, 0.6, 0.0, (85.0, 85.0))
    depart = promised_to - (undisturbed.arrival - promised_to) - timedelta(minutes=10)
    trip = drive(scenario, depart, 0.6, 5.0, (5.0, 9.0))  # a 5-minute slowdown: still 6 minutes to spare
    assert trip.arrival < promised_to
    _, changes = play(scenario, trip.pings, params)
    assert changes == []
