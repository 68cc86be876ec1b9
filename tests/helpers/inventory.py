"""Inventory test helpers: fresh settings, a simulated demo day and publishing it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import TELEMETRY_READINGS, WAREHOUSE_RFID
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.events import RfidRead, SensorReading
from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.inventory.catalog import Catalog
from millstream.inventory.counters import COUNTER_TAGS
from millstream.masterdata import Scenario, read_scenario
from millstream.settings import Settings, load_settings
from simulators.gates.simulation import GateSimulation
from simulators.groundtruth import Fact
from simulators.plant.readings import changed_readings
from simulators.plant.simulation import PlantSimulation
from tests.helpers.databases import create_database
from tests.helpers.paths import DEMO


def fresh_settings(server_url: str, kafka_bootstrap: str, prefix: str | None = None) -> tuple[Settings, str]:
    url = create_database(server_url, "millstream_inv")
    settings = load_settings(
        kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": prefix or f"t{uuid.uuid4().hex[:8]}."},
        database={"url": url}, inventory={"late_wait_s": 300.0})
    with connect(settings.database) as conn:
        migrate(conn, settings.database)
    return settings, url


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


T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


CATALOG = Catalog(read_scenario(DEMO))


def read(reader: str, epc: str, seconds: float = 0, antenna: int = 1, rssi: float | None = -52.0) -> RfidRead:
    return RfidRead.model_validate({"reader_id": reader, "antenna": antenna, "epc": epc, "rssi_dbm": rssi,
                                    "timestamp": T0 + timedelta(seconds=seconds)}, context=WITHOUT_TIME_CHECK)


Q = Decimal("0.001")


def _store(scenario: Scenario, site_id: str, material_id: str) -> str:
    """Where the demo keeps a material at a site (written from the scenario's ``stores``, not the catalog)."""
    kind = next(m.kind for m in scenario.materials if m.id == material_id)
    houses = [loc for loc in scenario.locations if loc.site_id == site_id and loc.kind == "warehouse"]
    return next((h.id for h in houses if kind in h.stores), None) or next(h.id for h in houses if not h.stores)


def expected_stock(day: SimulatedDay) -> dict[tuple[str, str], Decimal]:
    s = day.scenario
    stock: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for level in s.initial_stock:
        stock[(level.material_id, level.location_id)] += Decimal(str(level.quantity))
    orders = {o.id: o for o in s.production_orders}
    machines = {m.id: m for m in s.machines}
    boms = {b.product_id: b for b in s.boms}
    made = [f for f in day.plant_facts if f.kind in {"order_completed", "order_progress"}]
    assert made, "the simulation made nothing"
    for fact in made:
        order = orders[fact.details["order_id"]]
        machine = machines[order.machine_id]
        parts = fact.details["good_parts"] + fact.details["scrap_parts"]
        for line in boms[order.product_id].components:
            per_part = Decimal(str(line.quantity)) * (1 + Decimal(str(line.scrap_factor)))
            stock[(line.material_id, machine.location_id)] -= (per_part * parts).quantize(Q)
        stock[(order.product_id, _store(s, machine.site_id, order.product_id))] += fact.details["good_parts"]
    sites = {loc.id: loc.site_id for loc in s.locations}
    kinds = defaultdict(int)
    for fact in day.gate_facts:
        d = fact.details
        if d["missed"]:
            continue
        kinds[d["movement"]] += 1
        qty = Decimal(str(d["quantity"]))
        store = _store(s, sites[d["location_id"]], d["material_id"])
        if d["movement"] == "inbound":
            stock[(d["material_id"], store)] += qty
        elif d["movement"] == "outbound":
            stock[(d["material_id"], store)] -= qty
        else:
            stock[(d["material_id"], store)] -= qty
            stock[(d["material_id"], d["location_id"])] += qty
    assert set(kinds) == {"inbound", "outbound", "line_side"}
    return {k: v for k, v in stock.items() if v != 0}


def ledger_stock(conn: psycopg.Connection) -> dict[tuple[str, str], Decimal]:
    rows = conn.execute("SELECT material_id, location_id, sum(quantity) AS q FROM stock_lots "
                        "GROUP BY material_id, location_id HAVING sum(quantity) <> 0").fetchall()
    return {(r["material_id"], r["location_id"]): r["q"] for r in rows}
