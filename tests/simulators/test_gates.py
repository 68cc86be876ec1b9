"""The RFID gates: tags decode to the scenario's GS1 keys; duplicates, misses and stray reads at their rates."""

from __future__ import annotations

import asyncio
import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import WAREHOUSE_RFID
from millstream.epc import Sgtin96, Sscc96, decode_epc
from millstream.events.warehouse import RfidRead
from millstream.masterdata import Scenario, read_scenario
from millstream.serde import decode
from millstream.settings import Settings
from simulators.clock import SimClock
from simulators.config import GateParameters, SimulationError, simulation_config
from simulators.fleet.trip import plan_trip
from simulators.gates.simulation import GateSimulation
from simulators.groundtruth import GroundTruth
from simulators.timeline import play
from tests.helpers.kafka import consume_messages
from tests.helpers.paths import ROOT

START = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)


@pytest.fixture(scope="module")
def run(scenario: Scenario):
    sim = GateSimulation(scenario, seed=9)
    timeline = list(sim.timeline())
    reads = [e.event for e in timeline if e.event is not None]
    facts = [e.fact for e in timeline if e.fact is not None]
    return sim, reads, facts


@pytest.mark.slow
def test_same_seed_same_reads(scenario: Scenario, run) -> None:
    _, reads, _ = run
    again = [e.event for e in GateSimulation(scenario, seed=9).timeline() if e.event is not None]
    assert [r.id for r in again] == [r.id for r in reads]
    other = [e.event for e in GateSimulation(scenario, seed=10).timeline() if e.event is not None]
    assert [r.id for r in other] != [r.id for r in reads]


def test_inbound_pallets_match_the_receipts(scenario: Scenario, run) -> None:
    _, reads, facts = run
    inbound = [f for f in facts if f.details["movement"] == "inbound"]
    assert sorted(f.details["reference"] for f in inbound) == sorted(r.id for r in scenario.receipts)
    receipts = {r.id: r for r in scenario.receipts}
    for fact in inbound:
        receipt = receipts[fact.details["reference"]]
        decoded = decode_epc(fact.details["epc"])
        assert isinstance(decoded, Sscc96) and decoded.sscc == receipt.sscc
        assert fact.subject == f"RDR-{receipt.location_id}"
        assert fact.time >= receipt.expected_at
        own = [r for r in reads if r.epc == fact.details["epc"] and r.reader_id == fact.subject]
        assert len(own) == fact.details["reads"]


def test_outbound_cases_match_the_shipment_being_loaded(scenario: Scenario, run) -> None:
    sim, _, facts = run
    materials = {m.id: m for m in scenario.materials}
    for shipment in scenario.shipments:
        cases = [f for f in facts if f.details["reference"] == shipment.id]
        plan = plan_trip(shipment, sim.seed, simulation_config(scenario).fleet)
        assert cases, shipment.id
        assert all(plan.loading_from <= f.time <= plan.departure for f in cases)
        by_material = defaultdict(float)
        for f in cases:
            decoded = decode_epc(f.details["epc"])
            assert isinstance(decoded, Sgtin96)
            assert decoded.gtin == materials[f.details["material_id"]].gtin
            by_material[f.details["material_id"]] += f.details["quantity"]
        assert by_material == {i.material_id: i.quantity for i in shipment.items}
    epcs = [f.details["epc"] for f in facts]
    assert len(epcs) == len(set(epcs)), "every case has its own serial"


def test_line_side_transfers_cover_the_orders_bom_needs(scenario: Scenario, run) -> None:
    _, _, facts = run
    boms = {b.product_id: b for b in scenario.boms}
    for order in scenario.production_orders:
        moved = Counter()
        for f in facts:
            if f.details["movement"] == "line_side" and f.details["reference"] == order.id:
                moved[f.details["material_id"]] += f.details["quantity"]
        needed = {c.material_id: c.quantity * order.planned_qty for c in boms[order.product_id].components}
        assert set(moved) == set(needed)
        for material, qty in needed.items():
            assert math.isclose(moved[material], qty), (order.id, material)


def test_duplicates_misses_and_stray_reads_at_the_configured_rates(run) -> None:
    sim, reads, facts = run
    p = sim.params
    missed = [f for f in facts if f.details["missed"]]
    seen = [f for f in facts if not f.details["missed"]]
    n = len(facts)
    assert n > 5000
    tolerance = 4 * math.sqrt(p.missed_tag_probability * (1 - p.missed_tag_probability) / n)
    assert abs(len(missed) / n - p.missed_tag_probability) < tolerance
    assert all(f.details["reads"] == 0 and f.details["stray_reads"] == 0 for f in missed)
    mean_reads = statistics.mean(f.details["reads"] for f in seen)
    assert abs(mean_reads - p.reads_per_tag_mean) < 0.1 * p.reads_per_tag_mean
    with_neighbour = [f for f in seen if f.details["location_id"] in sim.neighbours]
    stray_rate = sum(1 for f in with_neighbour if f.details["stray_reads"]) / len(with_neighbour)
    tolerance = 4 * math.sqrt(p.stray_read_probability * (1 - p.stray_read_probability) / len(with_neighbour))
    assert abs(stray_rate - p.stray_read_probability) < tolerance
    by_reader = Counter((r.reader_id, r.epc) for r in reads)
    for f in seen:
        assert by_reader[(f.subject, f.details["epc"])] == f.details["reads"]
        if f.details["stray_reads"]:
            assert by_reader[(f.details["stray_reader"], f.details["epc"])] >= f.details["stray_reads"]
            assert f.details["stray_reader"] == f"RDR-{sim.neighbours[f.details['location_id']]}"
    own_gate = {(f.subject, f.details["epc"]) for f in facts}
    strays = [r for r in reads if (r.reader_id, r.epc) not in own_gate]
    assert strays and max(r.rssi_dbm for r in strays) < statistics.mean(r.rssi_dbm for r in reads)


def test_rates_follow_the_configuration(scenario: Scenario) -> None:
    params = GateParameters(reads_per_tag_mean=2.0, stray_read_probability=0.5, missed_tag_probability=0.0)
    sim = GateSimulation(scenario, seed=1, params=params)
    facts = [e.fact for e in sim.timeline() if e.fact is not None]
    assert not any(f.details["missed"] for f in facts)
    assert abs(statistics.mean(f.details["reads"] for f in facts) - 2.0) < 0.1
    near = [f for f in facts if f.details["location_id"] in sim.neighbours]
    assert abs(sum(1 for f in near if f.details["stray_reads"]) / len(near) - 0.5) < 0.05


def test_bad_gate_settings_are_refused(scenario: Scenario) -> None:
    with pytest.raises(SimulationError, match=r"simulation\.gates\.stray_read_probability"):
        GateSimulation(scenario.model_copy(update={"simulation": {"gates": {"stray_read_probability": 2}}}))
    empty = scenario.model_copy(update={"receipts": [], "shipments": [], "production_orders": []})
    with pytest.raises(SimulationError, match="nothing for the gates to read"):
        GateSimulation(empty)


def test_publishes_reads_to_kafka(settings: Settings, scenario: Scenario) -> None:
    create_topics(settings.kafka, [WAREHOUSE_RFID])
    sim = GateSimulation(scenario, seed=2)
    until = START.replace(hour=7)
    expected = [e.event for e in sim.timeline() if e.event is not None and e.at <= until]
    producer = EventProducer(settings.kafka)
    truth = GroundTruth()

    async def go() -> None:
        await play(sim.timeline(), SimClock(START, 1e9), lambda e: producer.send(WAREHOUSE_RFID, e), truth,
                   asyncio.Event(), until=until)

    asyncio.run(go())
    assert producer.flush(30) == 0 and producer.delivered == len(expected) > 100
    received: list[RfidRead] = []
    for msg in consume_messages(settings, WAREHOUSE_RFID.full_name(settings.kafka), len(expected), timeout_s=60):
        read = decode(msg.value(), RfidRead, time_policy=None)
        assert msg.key().decode() == read.reader_id
        received.append(read)
    assert sorted(r.id for r in received) == sorted(r.id for r in expected)
    assert truth.of_kind("tag_pass")
