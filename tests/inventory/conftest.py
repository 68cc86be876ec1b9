"""Inventory fixtures: a fresh migrated database per test (stock is global state), the demo scenario, and
simulator output (plant counters and RFID gate reads) with its ground truth."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import ALERTS, DLQ, TELEMETRY_READINGS, WAREHOUSE_RFID
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.events import RfidRead, SensorReading
from millstream.inventory.counters import COUNTER_TAGS
from millstream.masterdata import Scenario, read_scenario
from millstream.settings import Settings, load_settings
from simulators.gates.simulation import GateSimulation
from simulators.groundtruth import Fact
from simulators.plant.readings import changed_readings
from simulators.plant.simulation import PlantSimulation
from tests.conftest import create_database, drop_database

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.yaml"


def fresh_settings(server_url: str, kafka_bootstrap: str, prefix: str | None = None) -> tuple[Settings, str]:
    url = create_database(server_url, "millstream_inv")
    settings = load_settings(
        kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": prefix or f"t{uuid.uuid4().hex[:8]}."},
        database={"url": url}, inventory={"late_wait_s": 300.0})
    with connect(settings.database) as conn:
        migrate(conn, settings.database)
    return settings, url


@pytest.fixture
def inv_settings(server_url: str, kafka_bootstrap: str) -> Iterator[Settings]:
    """Settings with a fresh, migrated database of their own and a unique topic prefix."""
    settings, url = fresh_settings(server_url, kafka_bootstrap)
    create_topics(settings.kafka, [TELEMETRY_READINGS, WAREHOUSE_RFID, DLQ, ALERTS])
    yield settings
    drop_database(url)


@pytest.fixture
def inv_db(inv_settings: Settings) -> Iterator[psycopg.Connection]:
    with connect(inv_settings.database, autocommit=True) as conn:
        yield conn


@dataclass
class SimulatedDay:
    """The demo plant's counters and gate reads over ``hours``, and what really happened."""

    scenario: Scenario
    readings: list[SensorReading]
    reads: list[RfidRead]
    plant_facts: list[Fact]
    gate_facts: list[Fact]


def simulate(hours: float = 8.5, seed: int = 3, reads_per_tag: float = 3.0) -> SimulatedDay:
    start = (datetime.now(UTC) - timedelta(hours=9)).replace(microsecond=0)
    base = read_scenario(DEMO)
    scenario = base.model_copy(update={"simulation": {"gates": {"reads_per_tag_mean": reads_per_tag}}})
    scenario = scenario.rebased(start)
    plant = PlantSimulation(scenario, seed=seed)
    readings = list(changed_readings(plant, start, 10.0, int(hours * 360), COUNTER_TAGS))
    emissions = list(GateSimulation(scenario, seed=seed).timeline())
    return SimulatedDay(scenario, readings, [e.event for e in emissions if isinstance(e.event, RfidRead)],
                        list(plant.truth), [e.fact for e in emissions if e.fact is not None])


def publish(settings: Settings, readings: list[SensorReading], reads: list[RfidRead]) -> None:
    with EventProducer(settings.kafka) as producer:
        for reading in readings:
            producer.send(TELEMETRY_READINGS, reading)
        for read in reads:
            producer.send(WAREHOUSE_RFID, read)
