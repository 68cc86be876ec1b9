"""Logistics test helpers: a simulated demo day of the fleet, producing pings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import ALERTS, DLQ, FLEET_GPS
from millstream.masterdata import Scenario, Truck, read_scenario
from millstream.settings import Settings
from simulators.fleet.simulation import FleetSimulation
from simulators.groundtruth import Fact
from tests.helpers.paths import ROOT

START = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


def demo_day(seed: int = 1) -> tuple[Scenario, list[Any], list[Fact], list[tuple[datetime, Any]]]:
    """The demo scenario (plus a truck without shipments) rebased to yesterday, its pings, its facts and
    when each ping was delivered."""
    base = read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)
    scenario = base.model_copy(update={"trucks": [*base.trucks, Truck(id="TRK-99", plate="NO 1")]})
    pings, facts, deliveries = [], [], []
    for emission in FleetSimulation(scenario, seed=seed).timeline():
        (pings if emission.event is not None else facts).append(emission.event or emission.fact)
        if emission.event is not None:
            deliveries.append((emission.at, emission.event))
    return scenario, pings, facts, deliveries


def produce(settings: Settings, pings: list[Any], raw: list[bytes] = (), partitions: int = 1) -> None:
    """Pings to fleet.gps in delivery order (one partition by default: read back in exactly that order)."""
    create_topics(settings.kafka, [replace(FLEET_GPS, partitions=partitions), DLQ, ALERTS])
    with EventProducer(settings.kafka) as producer:
        for ping in pings:
            producer.send(FLEET_GPS, ping)
        for payload in raw:
            producer.send_raw(FLEET_GPS, payload, key=b"TRK-01")
