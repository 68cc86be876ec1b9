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
from millstream.events import ReaderHeartbeat, RfidRead, SensorReading
from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.inventory.catalog import Catalog
from millstream.inventory.counters import COUNTER_TAGS
from millstream.masterdata import Scenario, read_scenario
from millstream.scorecard import TruthFact, quiet_instant
from millstream.scorecard import physical_stock as scorecard_stock
from millstream.settings import Settings, load_settings
from simulators.clock import run_scenario
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
    """The demo plant's counters and gate reads over ``hours`` from the run's start, and what really happened."""

    scenario: Scenario
    readings: list[SensorReading]
    reads: list[RfidRead | ReaderHeartbeat]  # the gates' messages: tag reads and reader heartbeats
    plant_facts: list[Fact]
    gate_facts: list[Fact]
    start: datetime
    end: datetime


def simulate(hours: float = 8.5, seed: int = 3, reads_per_tag: float = 3.0,
             inject: tuple[str, ...] = (), readings_from: timedelta | None = None, signals: bool = False,
             ) -> SimulatedDay:
    """The demo's world as ``millstream up`` plays it: the scenario on a run's timeline (``simulation.start``
    is the run's origin, ending half an hour ago), the plant from the origin, the gates' timeline from it.
    ``readings_from``: the plant's readings begin that long after the origin (every tag's value then, as a
    bridge that subscribes late sees them), while the plant makes parts from the origin. ``signals``: every
    tag the bridge publishes (the sensor signals too), not only the counters."""
    start = (datetime.now(UTC) - timedelta(hours=hours + 0.5)).replace(microsecond=0)
    base = read_scenario(DEMO)
    gates = {**base.simulation.get("gates", {}), "reads_per_tag_mean": reads_per_tag, "inject": list(inject)}
    scenario = run_scenario(base.model_copy(update={"simulation": {**base.simulation, "gates": gates}}), start)
    plant = PlantSimulation(scenario, seed=seed)
    since = start + readings_from if readings_from is not None else None
    readings = list(changed_readings(plant, start, 10.0, int(hours * 360), None if signals else COUNTER_TAGS,
                                     since=since))
    end = start + timedelta(seconds=10.0 * int(hours * 360))
    emissions = [e for e in GateSimulation(scenario, seed=seed).timeline(start) if e.at <= end]
    return SimulatedDay(scenario, readings,
                        [e.event for e in emissions if isinstance(e.event, RfidRead | ReaderHeartbeat)],
                        list(plant.truth), [e.fact for e in emissions if e.fact is not None], start, end)


def publish(settings: Settings, readings: list[SensorReading], reads: list[RfidRead | ReaderHeartbeat],
            ) -> None:
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


def physical_stock(day: SimulatedDay, at: datetime | None = None) -> dict[tuple[str, str], Decimal]:
    """The physical stock per material x location at ``at`` (default: the end), from the simulators' facts alone —
    the scorecard's rule (:func:`millstream.scorecard.physical_stock`: the opening stock, each part made, each
    tag pass read or not)."""
    facts = [TruthFact(f.time, f.kind, f.subject, f.details) for f in (*day.plant_facts, *day.gate_facts)]
    return scorecard_stock(facts, Catalog(day.scenario), at or day.end)


def physically_negative(day: SimulatedDay) -> list[tuple[datetime, str, str, Decimal]]:
    """Every instant at which the physical world held less than nothing of a material somewhere (it never
    should): (time, material, location, stock), from the same facts as :func:`physical_stock`."""
    s = day.scenario
    boms = {b.product_id: b for b in s.boms}
    sites = {loc.id: loc.site_id for loc in s.locations}
    changes: list[tuple[datetime, int, str, str, Decimal]] = []  # puts (0) before takes (1) at one instant
    for fact in day.plant_facts:
        if fact.kind == "part_made":
            d = fact.details
            for line in boms[d["product_id"]].components:
                per_part = Decimal(str(line.quantity)) * (1 + Decimal(str(line.scrap_factor)))
                changes.append((fact.time, 1, line.material_id, d["location_id"], -per_part.quantize(Q)))
            if not d["scrap"]:
                changes.append((fact.time, 0, d["product_id"], _store(s, sites[d["location_id"]], d["product_id"]),
                                Decimal(1)))
    for fact in day.gate_facts:
        d = fact.details
        if d["from_location_id"] is not None:
            changes.append((fact.time, 1, d["material_id"], d["from_location_id"], -Decimal(str(d["quantity"]))))
        if d["to_location_id"] is not None:
            changes.append((fact.time, 0, d["material_id"], d["to_location_id"], Decimal(str(d["quantity"]))))
    stock: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for level in s.initial_stock:
        stock[(level.material_id, level.location_id)] += Decimal(str(level.quantity))
    negative = []
    for at, _, material, location, qty in sorted(changes, key=lambda c: c[:2]):
        stock[(material, location)] += qty
        if stock[(material, location)] < 0:
            negative.append((at, material, location, stock[(material, location)]))
    return negative


def parts_made(day: SimulatedDay) -> dict[str, tuple[int, int]]:
    """Good and scrap parts really made per production order (the plant's ``part_made`` facts)."""
    made: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fact in day.plant_facts:
        if fact.kind == "part_made":
            made[fact.details["order_id"]][1 if fact.details["scrap"] else 0] += 1
    return {order: (good, scrap) for order, (good, scrap) in made.items()}


def ledger_stock_at(conn: psycopg.Connection, at: datetime) -> dict[tuple[str, str], Decimal]:
    """The ledger's stock per material x location from its movements that occurred up to ``at``."""
    rows = conn.execute(
        "SELECT material_id, location_id, sum(q) AS q FROM ("
        " SELECT material_id, to_location_id AS location_id, quantity AS q FROM stock_movements"
        "  WHERE to_location_id IS NOT NULL AND occurred_at <= %(at)s"
        " UNION ALL SELECT material_id, from_location_id, -quantity FROM stock_movements"
        "  WHERE from_location_id IS NOT NULL AND occurred_at <= %(at)s) AS m "
        "GROUP BY 1, 2 HAVING sum(q) <> 0", {"at": at}).fetchall()
    return {(r["material_id"], r["location_id"]): r["q"] for r in rows}


def erp_stock(conn: psycopg.Connection, scenario: Scenario) -> dict[tuple[str, str], Decimal]:
    """Stock per material x location as the ERP knows it: its opening balances plus every movement posting the
    ledger sent it (the outbox), with the exceptions' postings changing nothing."""
    stock: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for level in scenario.initial_stock:
        stock[(level.material_id, level.location_id)] += Decimal(str(level.quantity))
    rows = conn.execute("SELECT record->'erp_keys'->>'material' AS material, record->'payload' AS p FROM erp_outbox "
                        "WHERE record->'payload'->>'movement_id' IS NOT NULL "
                        "AND record_type <> 'inventory.stock_exception'").fetchall()
    for row in rows:
        p, qty = row["p"], Decimal(row["p"]["quantity"])
        if p["from_location"] is not None:
            stock[(row["material"], p["from_location"])] -= qty
        if p["to_location"] is not None:
            stock[(row["material"], p["to_location"])] += qty
    return {k: v for k, v in stock.items() if v != 0}


def confirmed_parts(conn: psycopg.Connection) -> dict[str, tuple[int, int]]:
    """Good and scrap parts per production order as confirmed to the ERP (``production.confirmation``)."""
    rows = conn.execute("SELECT record->'erp_keys'->>'production_order' AS o, "
                        "sum((record->'payload'->>'good_qty')::int) AS g, sum((record->'payload'->>'scrap_qty')::int) "
                        "AS s FROM erp_outbox WHERE record_type = 'production.confirmation' GROUP BY 1").fetchall()
    return {r["o"]: (r["g"], r["s"]) for r in rows}


def quiet_instants(day: SimulatedDay, every: timedelta) -> list[datetime]:
    """Instants ``every`` apart at which no tag is passing a gate (the scorecard's
    :func:`~millstream.scorecard.quiet_instant`: a pass's reads follow its goods by up to the pass duration)."""
    facts = [TruthFact(f.time, f.kind, f.subject, f.details) for f in day.gate_facts]
    instants, at = [], day.start + every
    while at < day.end:
        instants.append(quiet_instant(facts, at))
        at += every
    return instants
